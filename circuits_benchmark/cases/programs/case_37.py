"""Case 37: reverse each word except an excluded one."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

EXCLUDED_WORD = "nochange"


@tracr_case(
    "37",
    "Each word spelled backwards, except 'nochange' (which is not in the vocabulary, so every word is reversed).",
    vocab=vocabs.words(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def reverse_words() -> rasp.SOp:
    return rasp.Map(lambda word: word[::-1] if word != EXCLUDED_WORD else word, rasp.tokens)
