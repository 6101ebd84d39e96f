"""Case 52: square root."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "52",
    "Square root of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def square_root() -> rasp.SOp:
    return rasp.Map(lambda x: x**0.5, rasp.tokens).named("square_root")
