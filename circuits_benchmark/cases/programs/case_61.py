"""Case 61: rank of each element."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "61",
    "Rank of each element: one plus the number of elements of the sequence strictly smaller than it.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def rank() -> rasp.SOp:
    less_than_selector = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT).named("less_than_selector")
    smaller_count = rasp.SelectorWidth(less_than_selector).named("smaller_count")
    return rasp.Map(lambda count: count + 1, smaller_count).named("rank")
