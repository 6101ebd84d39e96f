"""Case 42: broadcast the first token."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import constant
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "42",
    "The first token of the sequence, at every position.",
    vocab=vocabs.ascii_letters(10),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def first_element() -> rasp.SOp:
    zeros = constant(0)
    first_elem_selector = rasp.Select(rasp.indices, zeros, rasp.Comparison.EQ).named("first_elem_selector")
    return rasp.Aggregate(first_elem_selector, rasp.tokens, default=None).named("first_element_sequence")
