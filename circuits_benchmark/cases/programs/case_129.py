"""Case 129: are all tokens multiples of 2."""

from __future__ import annotations

from typing import Any

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import all_checks_pass
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import distinct_input, half_and_half, ordered, shuffled

N = 2
VOCAB = vocabs.int_numbers(high=30)
MAX_SEQ_LEN = vocabs.DEFAULT_MAX_SEQ_LEN
# distinct multiples of N, in random order
_multiples_input = distinct_input(x for x in VOCAB if x % N == 0)


def _one_non_multiple_input(rng: np.random.Generator, length: int) -> list[Any]:
    """length - 1 distinct multiples of N and one non-multiple, shuffled."""
    non_multiples = [x for x in ordered(VOCAB) if x % N != 0]
    sequence = _multiples_input(rng, length - 1) + [non_multiples[rng.integers(len(non_multiples))]]
    return shuffled(rng, sequence)


@tracr_case(
    "129",
    "1 at every position if every token is a multiple of 2, else 0.",
    vocab=VOCAB,
    max_seq_len=MAX_SEQ_LEN,
    generator=half_and_half(MAX_SEQ_LEN, _multiples_input, _one_non_multiple_input),
    causal=False,
)
def check_multiple_of_n() -> rasp.SOp:
    checks = rasp.Map(lambda x: 1 if x % N == 0 else 0, rasp.tokens).named(f"check_multiple_of_{N}")
    # checks == 0 marks a non-multiple; the answer is 1 only when there is none.
    return all_checks_pass(checks)
