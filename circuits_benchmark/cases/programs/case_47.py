"""Case 47: frequency of each token."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "47",
    "Each token replaced by the number of times it occurs in the whole sequence.",
    vocab=vocabs.ascii_letters(10),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def count_frequency() -> rasp.SOp:
    equality_selector = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("equality_selector")
    return rasp.SelectorWidth(equality_selector).named("frequency_count")
