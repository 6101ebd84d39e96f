"""A benchmark case: a RASP program plus everything needed to sample data for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Optional, Sequence

import numpy as np
from tracr.rasp import rasp

InputGenerator = Callable[[np.random.Generator, int], list[list[Any]]]
"""Draws `n` input sequences (without BOS) from a seeded numpy generator."""


@dataclass(frozen=True)
class CaseDataset:
    """Clean and corrupted inputs (without BOS) with the program's outputs on each."""

    clean_inputs: list[list[Any]]
    corrupted_inputs: list[list[Any]]
    clean_outputs: list[list[Any]]
    corrupted_outputs: list[list[Any]]

    def __len__(self) -> int:
        return len(self.clean_inputs)


@dataclass
class TracrCase:
    """One Tracr benchmark task.

    Attributes:
        case_id: InterpBench-style id, e.g. "3".
        description: one sentence saying what the program computes.
        build_program: returns a fresh RASP program (the output SOp).
        vocab: input vocabulary (BOS and padding are added by the compiler).
        max_seq_len: longest input, without BOS.
        generator: optional custom input sampler; by default every position is
            drawn uniformly from `vocab` at length `max_seq_len`.
        min_seq_len: shortest input the default generator draws.
        causal: compile with causal attention masking (InterpBench's default).
    """

    case_id: str
    description: str
    build_program: Callable[[], rasp.SOp]
    vocab: frozenset
    max_seq_len: int
    generator: Optional[InputGenerator] = None
    min_seq_len: Optional[int] = None
    causal: bool = True
    source_module: str = field(default="", compare=False)

    @cached_property
    def program(self) -> rasp.SOp:
        return self.build_program()

    @property
    def is_categorical(self) -> bool:
        return rasp.is_categorical(self.program)

    @property
    def output_kind(self) -> str:
        return "categorical" if self.is_categorical else "numerical"

    def sample_inputs(self, n: int, seed: int = 0) -> list[list[Any]]:
        """`n` input sequences (without BOS), reproducible from `seed`."""
        rng = np.random.default_rng(seed)
        if self.generator is not None:
            inputs = self.generator(rng, n)
        else:
            inputs = uniform_inputs(self.vocab, self.max_seq_len, rng, n, self.min_seq_len)
        bad = [x for x in inputs if not 0 < len(x) <= self.max_seq_len or set(x) - self.vocab]
        if bad:
            raise ValueError(f"case {self.case_id}: generator produced invalid input {bad[0]!r}")
        return inputs

    def evaluate(self, inputs: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """The RASP program's output on each input (the high-level ground truth)."""
        return [list(rasp.evaluate(self.program, list(x))) for x in inputs]

    def dataset(self, n: int, seed: int = 0) -> CaseDataset:
        """Clean inputs and an independent draw of corrupted inputs for patching."""
        clean = self.sample_inputs(n, seed)
        corrupted = self.sample_inputs(n, seed + 1_000_003)
        return CaseDataset(clean, corrupted, self.evaluate(clean), self.evaluate(corrupted))


def uniform_inputs(
    vocab: frozenset,
    max_seq_len: int,
    rng: np.random.Generator,
    n: int,
    min_seq_len: Optional[int] = None,
) -> list[list[Any]]:
    """Sequences whose tokens are drawn uniformly from `vocab` (sorted for reproducibility)."""
    values = sorted(vocab, key=repr)
    lo = max_seq_len if min_seq_len is None else min_seq_len
    lengths = rng.integers(lo, max_seq_len + 1, size=n)
    return [[values[i] for i in rng.integers(0, len(values), size=int(k))] for k in lengths]
