"""Case 86: power-of-2 check."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

BASE = 2


def is_power_of(base: int, x: float) -> int:
    """1 if `x` is base, base**2, base**3, ... (divides by `base` while x >= 1), else 0; 1 itself gives 0."""
    while x >= 1:
        if x == base:
            return 1
        x /= base
    return 0


@tracr_case(
    "86",
    f"Every element replaced by 1 if it is a positive power of {BASE} ({BASE}, {BASE ** 2}, ...; 1 gives 0), else 0.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def check_power_of_two() -> rasp.SOp:
    # InterpBench names this node "check_multiple_of_2", although it tests for powers
    return rasp.Map(lambda x: is_power_of(BASE, x), rasp.tokens).named(f"check_multiple_of_{BASE}")
