"""Case 96: zero out repeated tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "96",
    "Keep each token that occurs exactly once in the sequence and set every occurrence of a repeated "
    "token to 0, the first one included (InterpBench's program counts equal tokens over the whole "
    "sequence, so first occurrences of repeated values are zeroed too).",
    vocab=vocabs.int_numbers(low=1),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def remove_duplicates() -> rasp.SOp:
    eq_selector = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("eq_selector")
    eq_count = rasp.SelectorWidth(eq_selector).named("eq_count")
    index = rasp.Map(lambda i: i + 1, rasp.indices).named("index")
    # the whole-sequence count, or 0 where it exceeds the 1-based position
    adjusted_count = rasp.SequenceMap(
        lambda count, position: count if count <= position else 0, eq_count, index
    ).named("adjusted_count")
    first_or_zero = rasp.Map(lambda count: 1 if count == 1 else 0, adjusted_count).named("first_or_zero")
    return rasp.SequenceMap(
        lambda token, keep: token if keep == 1 else 0, rasp.tokens, first_or_zero
    ).named("remove_duplicates")
