"""Case 54: hyperbolic tangent."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "54",
    "Hyperbolic tangent of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def hyperbolic_tangent() -> rasp.SOp:
    return rasp.Map(math.tanh, rasp.tokens)
