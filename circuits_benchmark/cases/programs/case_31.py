"""Case 31: anagrams of 'listen'."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

TARGET = "listen"


@tracr_case(
    "31",
    "Whether each word is an anagram of 'listen'.",
    vocab=vocabs.words() | {TARGET},
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def anagram_of_listen() -> rasp.SOp:
    target_letters = sorted(TARGET)
    return rasp.Map(lambda word: sorted(word) == target_letters, rasp.tokens)
