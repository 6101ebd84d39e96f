"""Case 81: median."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_length, make_sort
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "81",
    "The median of the sequence (mean of the two middle values for an even length), at every position.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def compute_median() -> rasp.SOp:
    # ties broken by position with keys x + i / 100
    sorted_tokens = make_sort(rasp.tokens, rasp.tokens, max_seq_len=100, min_key=1)
    length = make_length()
    lower_middle = rasp.Map(lambda n: (n - 1) // 2, length)
    upper_middle = rasp.Map(lambda n: n // 2, length)
    lower = rasp.Aggregate(rasp.Select(rasp.indices, lower_middle, rasp.Comparison.EQ), sorted_tokens)
    upper = rasp.Aggregate(rasp.Select(rasp.indices, upper_middle, rasp.Comparison.EQ), sorted_tokens)
    return rasp.SequenceMap(lambda a, b: (a + b) / 2, lower, upper)
