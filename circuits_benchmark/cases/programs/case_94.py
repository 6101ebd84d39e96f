"""Case 94: check the sequence is descending."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import all_checks_pass, previous_token
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import distinct_sorted_input, half_and_half, uniform_input

VOCAB = vocabs.int_numbers()


@tracr_case(
    "94",
    "1 at every position if the sequence is non-increasing (no element larger than the one before), else 0.",
    vocab=VOCAB,
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    generator=half_and_half(
        vocabs.DEFAULT_MAX_SEQ_LEN, distinct_sorted_input(VOCAB, descending=True), uniform_input(VOCAB)
    ),
    causal=False,
)
def check_descending() -> rasp.SOp:
    # 1 where the previous element is at least as large
    checks = rasp.SequenceMap(lambda prev, x: 1 if prev >= x else 0, previous_token(), rasp.tokens)
    return all_checks_pass(checks)
