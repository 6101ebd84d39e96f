"""Case 111: last token first."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "111",
    "The last token at position 0 and 0 at every other position.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def last_element() -> rasp.SOp:
    length = unnamed_length(rasp.tokens).named("length")
    last_index = rasp.Map(lambda n: n - 1, length)
    last_element_selector = rasp.Select(rasp.indices, last_index, rasp.Comparison.EQ).named("last_element_selector")
    last_element_sequence = rasp.Aggregate(last_element_selector, rasp.tokens).named("last_element_sequence")
    return rasp.SequenceMap(lambda x, i: x if i == 0 else 0, last_element_sequence, rasp.indices)
