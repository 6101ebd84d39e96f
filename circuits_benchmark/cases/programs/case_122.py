"""Case 122: is each token divisible by 3."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

DIVISOR = 3


@tracr_case(
    "122",
    "1 where the token is divisible by 3, else 0.",
    vocab=vocabs.int_numbers(high=30),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def divisible_by_three() -> rasp.SOp:
    return rasp.Map(lambda x: 1 if x % DIVISOR == 0 else 0, rasp.tokens)
