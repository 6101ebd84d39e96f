"""Case 59: sort."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "59",
    "The sequence sorted in ascending order (equal elements keep their input order).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def sorting() -> rasp.SOp:
    # a tiny position offset makes equal tokens distinct keys
    unique_keys = rasp.SequenceMap(lambda x, i: x + i * 0.00001, rasp.tokens, rasp.indices).named("unique_keys")
    lt_selector = rasp.Select(unique_keys, unique_keys, rasp.Comparison.LT).named("lt_selector")
    sorted_position = rasp.SelectorWidth(lt_selector).named("sorted_position")
    sorted_sequence_selector = rasp.Select(sorted_position, rasp.indices, rasp.Comparison.EQ).named(
        "sorted_sequence_selector"
    )
    return rasp.Aggregate(sorted_sequence_selector, rasp.tokens).named("sorted_sequence")
