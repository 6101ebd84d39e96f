"""Case 89: check the sequence is increasing."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import all_checks_pass, previous_token
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import distinct_sorted_input, half_and_half, uniform_input

VOCAB = vocabs.int_numbers()
MAX_SEQ_LEN = len(VOCAB) - 1  # InterpBench: len(vocab) including BOS


@tracr_case(
    "89",
    "1 at every position if the sequence is non-decreasing (no element smaller than the one before), else 0.",
    vocab=VOCAB,
    max_seq_len=MAX_SEQ_LEN,
    generator=half_and_half(MAX_SEQ_LEN, distinct_sorted_input(VOCAB, descending=False), uniform_input(VOCAB)),
    causal=False,
)
def check_increasing() -> rasp.SOp:
    # 0 where the previous element is larger
    checks = rasp.SequenceMap(lambda prev, x: 0 if prev > x else 1, previous_token(), rasp.tokens)
    return all_checks_pass(checks)
