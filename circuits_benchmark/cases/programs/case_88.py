"""Case 88: average of the first and last elements."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "88",
    "The average of the first and the last element, at every position.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def average_first_last() -> rasp.SOp:
    # every query reads key position 0
    first_elem_selector = rasp.Select(
        rasp.indices, rasp.indices, lambda k, q: k == 0
    ).named("first_elem_selector")
    first_elem = rasp.Aggregate(first_elem_selector, rasp.tokens, default=None).named("first_elem")

    # key position k serves query n - k - 1
    mirrored = rasp.SequenceMap(lambda i, n: n - i - 1, rasp.indices, unnamed_length())
    reverse_selector = rasp.Select(mirrored, rasp.indices, rasp.Comparison.EQ)
    reversed_sequence = rasp.Aggregate(reverse_selector, rasp.tokens).named("reversed_sequence")
    # the first element of the reversed sequence is the last one
    last_elem = rasp.Aggregate(first_elem_selector, reversed_sequence, default=None).named("last_elem")

    return rasp.SequenceMap(lambda a, b: (a + b) / 2.0, first_elem, last_elem).named("average_first_last")
