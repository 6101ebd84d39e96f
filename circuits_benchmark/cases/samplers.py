"""Input samplers shared by the cases that need balanced data (InterpBench's `sample_data` overrides).

A sampler is an `InputGenerator`: `(rng, n) -> n input sequences` without BOS. InterpBench
samples at full length by default, so these do too.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np

from circuits_benchmark.cases.base import InputGenerator

MakeInput = Callable[[np.random.Generator, int], list[Any]]
"""Builds one input of the given length from the generator."""


def ordered(vocab: Iterable[Any]) -> list[Any]:
    """The vocabulary in InterpBench's order (sorted), so draws are reproducible."""
    return sorted(vocab)


def uniform_input(vocab: Iterable[Any]) -> MakeInput:
    """Every token drawn uniformly with replacement (InterpBench's default sampler)."""
    values = ordered(vocab)
    return lambda rng, length: [values[i] for i in rng.integers(0, len(values), size=length)]


def half_and_half(length: int, make_true: MakeInput, make_false: MakeInput) -> InputGenerator:
    """`n // 2` inputs from `make_true` and the rest from `make_false`, all of `length` tokens, shuffled.

    The shuffle matters (InterpBench shuffles its data too): a clean and a corrupted draw are paired
    by index, so unshuffled halves would pair every input with one of the same class, and neither
    patching nor interchange training could ever change an answer.
    """

    def sample(rng: np.random.Generator, n: int) -> list[list[Any]]:
        n_true = n // 2
        inputs = [make_true(rng, length) for _ in range(n_true)] + [
            make_false(rng, length) for _ in range(n - n_true)
        ]
        return shuffled(rng, inputs)

    return sample


def draw_distinct(rng: np.random.Generator, values: Sequence[Any], count: int) -> list[Any]:
    """`count` different elements of `values`, drawn without replacement, in random order."""
    return [values[i] for i in rng.choice(len(values), size=count, replace=False)]


def shuffled(rng: np.random.Generator, sequence: Sequence[Any]) -> list[Any]:
    """`sequence` in a random order (one permutation draw)."""
    return [sequence[i] for i in rng.permutation(len(sequence))]


def distinct_input(vocab: Iterable[Any]) -> MakeInput:
    """`length` different tokens of `vocab`, drawn without replacement, in random order."""
    values = ordered(vocab)
    return lambda rng, length: draw_distinct(rng, values, length)


def distinct_sorted_input(vocab: Iterable[Any], descending: bool) -> MakeInput:
    """`length` different tokens drawn without replacement, sorted (a strictly monotone input)."""
    values = ordered(vocab)

    def make(rng: np.random.Generator, length: int) -> list[Any]:
        picked = sorted(draw_distinct(rng, values, length))
        return picked[::-1] if descending else picked

    return make
