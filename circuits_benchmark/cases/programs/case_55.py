"""Case 55: hyperbolic sine."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "55",
    "Hyperbolic sine of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def hyperbolic_sine() -> rasp.SOp:
    return rasp.Map(lambda x: math.sinh(x), rasp.tokens).named("hyperbolic_sine")
