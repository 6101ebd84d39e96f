"""Case 126: the median of all tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_length, make_sort_unique
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "126",
    "Median of all tokens (mean of the two middle values for even lengths), at every position.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def set_to_median() -> rasp.SOp:
    # Ties are broken by position with a fixed 0.0001 * i (not blocks.make_sort's min_key * i / max_seq_len).
    unique_tokens = rasp.SequenceMap(lambda x, i: x + 0.0001 * i, rasp.tokens, rasp.indices)
    sorted_tokens = make_sort_unique(rasp.tokens, unique_tokens)

    length = make_length()
    mid_index1 = rasp.Map(lambda n: (n - 1) // 2, length).named("mid_index1")
    mid_index2 = rasp.Map(lambda n: n // 2, length).named("mid_index2")
    median_selector1 = rasp.Select(rasp.indices, mid_index1, rasp.Comparison.EQ).named("median_selector1")
    median_selector2 = rasp.Select(rasp.indices, mid_index2, rasp.Comparison.EQ).named("median_selector2")
    potential_median1 = rasp.Aggregate(median_selector1, sorted_tokens).named("potential_median1")
    potential_median2 = rasp.Aggregate(median_selector2, sorted_tokens).named("potential_median2")
    return rasp.SequenceMap(lambda x, y: (x + y) / 2, potential_median1, potential_median2).named("median")
