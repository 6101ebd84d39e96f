"""Case 57: broadcast the second token."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import constant
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "57",
    "The second token of the sequence, at every position (None for a one-token input).",
    vocab=vocabs.ascii_letters(10),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def second_element() -> rasp.SOp:
    ones = constant(1)
    second_element_selector = rasp.Select(rasp.indices, ones, rasp.Comparison.EQ).named("second_element_selector")
    return rasp.Aggregate(second_element_selector, rasp.tokens).named("second_element_sequence")
