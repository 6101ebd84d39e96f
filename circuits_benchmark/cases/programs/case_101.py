"""Case 101: perfect squares."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "101",
    "1 where the token is a perfect square, else 0.",
    vocab=vocabs.int_numbers(high=30),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def check_square() -> rasp.SOp:
    return rasp.Map(lambda x: 1 if x**0.5 == int(x**0.5) else 0, rasp.tokens)
