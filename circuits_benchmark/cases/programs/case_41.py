"""Case 41: absolute value."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "41",
    "Absolute value of each integer in -10..9.",
    vocab=vocabs.int_numbers(-10, 10),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def absolute() -> rasp.SOp:
    return rasp.Map(lambda x: x if x >= 0 else -x, rasp.tokens).named("make_absolute")
