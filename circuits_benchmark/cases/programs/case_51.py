"""Case 51: is each element a Fibonacci number."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

FIBONACCI_UP_TO_610 = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610]


@tracr_case(
    "51",
    "1 where the element (0..99) is a Fibonacci number, else 0.",
    vocab=vocabs.int_numbers(0, 100),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def check_fibonacci() -> rasp.SOp:
    return rasp.Map(lambda x: 1 if x in FIBONACCI_UP_TO_610 else 0, rasp.tokens).named("check_fibonacci_map")
