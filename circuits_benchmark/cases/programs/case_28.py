"""Case 28: mirror each word."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "28",
    "Each word with its letters in reverse order.",
    vocab=vocabs.words(min_chars=4, max_words=50),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def mirror_words() -> rasp.SOp:
    return rasp.Map(lambda word: word[::-1] if word is not None else None, rasp.tokens)
