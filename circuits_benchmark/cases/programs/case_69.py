"""Case 69: sign."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def sign(x: float) -> int:
    """-1, 0 or 1."""
    if x < 0:
        return -1
    if x > 0:
        return 1
    return 0


@tracr_case(
    "69",
    "Sign of each element (-1, 0 or 1; the vocabulary 0..10 only gives 0 and 1).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def sign_each() -> rasp.SOp:
    return rasp.Map(sign, rasp.tokens).named("sign")
