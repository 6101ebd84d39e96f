"""Case 33: even-length words."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "33",
    "Whether each word has an even number of letters.",
    vocab=vocabs.words(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def even_length_words() -> rasp.SOp:
    return rasp.Map(lambda word: len(word) % 2 == 0, rasp.tokens)
