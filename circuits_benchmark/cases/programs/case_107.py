"""Case 107: wrap into a range."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def wrap_into_range(x: int, low: int, high: int) -> int:
    """`x` wrapped into [low, high): low + (x - low) mod (high - low)."""
    return (x - low) % (high - low) + low


@tracr_case(
    "107",
    "Each token wrapped into the range [2, 7): 2 + (x - 2) mod 5.",
    vocab=vocabs.int_numbers(low=-15, high=15),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def wrap() -> rasp.SOp:
    return rasp.Map(lambda x: wrap_into_range(x, 2, 7), rasp.tokens)
