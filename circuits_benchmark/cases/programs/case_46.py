"""Case 46: decrement."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "46",
    "Each element minus one.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def decrement() -> rasp.SOp:
    return rasp.Map(lambda x: x - 1, rasp.tokens).named("decrement")
