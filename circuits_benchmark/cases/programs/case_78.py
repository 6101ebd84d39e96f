"""Case 78: count occurrences."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "78",
    "Every element replaced by the number of times it occurs in the whole sequence.",
    vocab=vocabs.ascii_letters(10),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def count_occurrences() -> rasp.SOp:
    eq_selector = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("eq_selector")
    return rasp.SelectorWidth(eq_selector).named("count_occurrences")
