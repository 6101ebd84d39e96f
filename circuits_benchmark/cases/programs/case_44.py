"""Case 44: count of greater elements."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "44",
    "For each element, how many elements of the whole sequence are strictly greater.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def count_greater_than() -> rasp.SOp:
    # Select(keys, queries, GT) picks the keys k with k > q
    greater_than_selector = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.GT).named("greater_than_selector")
    return rasp.SelectorWidth(greater_than_selector).named("count_greater_than")
