"""Case 40: digit sum of two-digit numbers."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "40",
    "Tens digit plus units digit of each number in 0..28.",
    vocab=vocabs.int_numbers(0, 29),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def sum_digits() -> rasp.SOp:
    tens_place = rasp.Map(lambda x: x // 10, rasp.tokens).named("tens_place")
    ones_place = rasp.Map(lambda x: x % 10, rasp.tokens).named("ones_place")
    return rasp.SequenceMap(lambda x, y: x + y, tens_place, ones_place).named("sum_digits")
