"""Case 67: multiply by the length."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "67",
    "Each element multiplied by the length of the sequence.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def multiply_by_length() -> rasp.SOp:
    all_true_selector = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE).named("all_true_selector")
    length_sequence = rasp.SelectorWidth(all_true_selector).named("length_sequence")
    return rasp.SequenceMap(lambda x, n: x * n, rasp.tokens, length_sequence).named("multiply_by_length_sequence")
