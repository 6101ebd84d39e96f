"""Case 63: count of smaller elements."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "63",
    "For each element, how many elements of the whole sequence are strictly smaller.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def count_less_than() -> rasp.SOp:
    lt_selector = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT).named("lt_selector")
    return rasp.SelectorWidth(lt_selector).named("count_lt")
