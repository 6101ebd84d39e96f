"""Case 23: keep palindromic words."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "23",
    "Each word that reads the same backwards, None for the other words.",
    vocab=vocabs.words() | {"racecar", "noon"},
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def palindrome_words() -> rasp.SOp:
    return rasp.Map(lambda word: word if word == word[::-1] else None, rasp.tokens)
