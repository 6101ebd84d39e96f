"""Case 79: prime check."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import is_prime
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "79",
    "Every element replaced by 1 if it is a prime number, else 0.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def check_prime() -> rasp.SOp:
    return rasp.Map(lambda x: 1 if is_prime(x) else 0, rasp.tokens)
