"""Case 73: sine."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "73",
    "Every element x replaced by sin(x) (x in radians).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def sine() -> rasp.SOp:
    return rasp.Map(lambda x: math.sin(x), rasp.tokens).named("sine")
