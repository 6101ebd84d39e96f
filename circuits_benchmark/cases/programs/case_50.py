"""Case 50: hyperbolic cosine."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "50",
    "Hyperbolic cosine of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def hyperbolic_cosine() -> rasp.SOp:
    return rasp.Map(math.cosh, rasp.tokens)
