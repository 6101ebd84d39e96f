"""Case 124: are all tokens equal."""

from __future__ import annotations

from typing import Any

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import count_zeros
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import draw_distinct, half_and_half, ordered

VOCAB = vocabs.int_numbers()
MAX_SEQ_LEN = vocabs.DEFAULT_MAX_SEQ_LEN


def _all_equal_input(rng: np.random.Generator, length: int) -> list[Any]:
    """One vocabulary value, repeated."""
    values = ordered(VOCAB)
    return [values[rng.integers(len(values))]] * length


def _distinct_input(rng: np.random.Generator, length: int) -> list[Any]:
    """Distinct values in random order (cycled if the length exceeds the vocabulary)."""
    values = ordered(VOCAB)
    picked = draw_distinct(rng, values, min(length, len(values)))
    return (picked * (length // len(picked) + 1))[:length]


@tracr_case(
    "124",
    "1 at every position if all tokens are equal, else 0.",
    vocab=VOCAB,
    max_seq_len=MAX_SEQ_LEN,
    generator=half_and_half(MAX_SEQ_LEN, _all_equal_input, _distinct_input),
    causal=False,
)
def all_equal() -> rasp.SOp:
    unequal_selector = rasp.Select(rasp.tokens, rasp.tokens, lambda k, q: k != q)
    n_different = rasp.SelectorWidth(unequal_selector)
    # A position that differs from no other exists only when the whole input is constant.
    return rasp.Map(lambda c: 1 if c > 0 else 0, count_zeros(n_different))
