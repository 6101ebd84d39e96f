"""Case 11: word length via same-length positions."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "11",
    "The length of each word, aggregated over the positions holding words of the same length.",
    vocab=vocabs.words(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def word_length_by_group() -> rasp.SOp:
    word_length = rasp.Map(lambda word: len(word), rasp.tokens)
    same_length = rasp.Select(word_length, word_length, rasp.Comparison.EQ)
    return rasp.Aggregate(same_length, word_length, default=None)
