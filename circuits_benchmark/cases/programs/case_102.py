"""Case 102: reflect into a range."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def reflect_into_range(x: int, low: int, high: int) -> int:
    """`x` folded into [low, high], bouncing off each bound as often as it overshoots."""
    width = high - low
    if low < x < high:
        return x
    if x < low:
        overshoot = low - x
        bounces = overshoot // width
        return low + overshoot % width if bounces % 2 == 0 else high - overshoot % width
    overshoot = x - high
    bounces = overshoot // width
    return high - overshoot % width if bounces % 2 == 0 else low + overshoot % width


@tracr_case(
    "102",
    "Each token reflected into the range [2, 7], bouncing off the bounds (a triangle wave of period 10).",
    vocab=vocabs.int_numbers(low=-20, high=20),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def reflect() -> rasp.SOp:
    return rasp.Map(lambda x: reflect_into_range(x, 2, 7), rasp.tokens)
