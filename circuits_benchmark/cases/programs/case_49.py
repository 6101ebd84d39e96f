"""Case 49: round down to a multiple of three."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "49",
    "Each element rounded down to the nearest multiple of three.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def decrement_to_multiple_of_three() -> rasp.SOp:
    return rasp.Map(lambda x: x - x % 3, rasp.tokens).named("decrement_to_multiple_of_three")
