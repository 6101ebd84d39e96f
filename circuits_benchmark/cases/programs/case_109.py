"""Case 109: last two tokens equal."""

from __future__ import annotations

from typing import Any

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import last_two_tokens
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import half_and_half, ordered, uniform_input

VOCAB = vocabs.int_numbers()
_uniform = uniform_input(VOCAB)


def ending_in_a_pair(rng: np.random.Generator, length: int) -> list[Any]:
    """Uniform tokens ending in two equal ones."""
    last = _uniform(rng, 1)
    return _uniform(rng, length - 2) + last + last


def ending_in_two_different(rng: np.random.Generator, length: int) -> list[Any]:
    """Uniform tokens ending in two different ones."""
    second_to_last = _uniform(rng, 1)
    others = [v for v in ordered(VOCAB) if v != second_to_last[0]]
    return _uniform(rng, length - 2) + second_to_last + [others[rng.integers(len(others))]]


@tracr_case(
    "109",
    "1 at every position if the last two tokens are equal, else 0.",
    vocab=VOCAB,
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    generator=half_and_half(vocabs.DEFAULT_MAX_SEQ_LEN, ending_in_a_pair, ending_in_two_different),
    causal=False,
)
def check_last_two_equal() -> rasp.SOp:
    last, second_to_last = last_two_tokens()
    return rasp.SequenceMap(lambda x, y: 1 if x == y else 0, last, second_to_last)
