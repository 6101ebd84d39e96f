"""Case 30: tag numbers in a range."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

LOWER, UPPER = 10, 20


@tracr_case(
    "30",
    "Whether each number token lies between 10 and 20 inclusive.",
    vocab=vocabs.str_numbers(0, 30),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def numeric_range_tagging() -> rasp.SOp:
    return rasp.Map(lambda x: LOWER <= int(x) <= UPPER if x.isdigit() else False, rasp.tokens)
