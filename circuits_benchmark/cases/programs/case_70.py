"""Case 70: cosine."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "70",
    "Cosine of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def cosine() -> rasp.SOp:
    return rasp.Map(lambda x: math.cos(x), rasp.tokens).named("apply_cosine")
