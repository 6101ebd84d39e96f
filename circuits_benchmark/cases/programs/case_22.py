"""Case 22: sort words by length."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_sort
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "22",
    "The words sorted by length, shorter first (equal lengths kept in input order).",
    vocab=vocabs.words(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def sort_by_length() -> rasp.SOp:
    token_length = rasp.Map(lambda word: len(word), rasp.tokens).named("token_length")
    return make_sort(rasp.tokens, token_length, max_seq_len=10, min_key=1)
