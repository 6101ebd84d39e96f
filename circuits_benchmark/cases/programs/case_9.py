"""Case 9: sort digits."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_sort
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "9",
    "The digits sorted in ascending order (equal digits kept in input order).",
    vocab=vocabs.int_digits(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def sort_digits() -> rasp.SOp:
    return make_sort(rasp.tokens, rasp.tokens, max_seq_len=10, min_key=1)
