"""Case 1: token equals the token two positions back."""

from __future__ import annotations

import math

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case

VOCAB = vocabs.ascii_letters(5)
MAX_SEQ_LEN = vocabs.DEFAULT_MAX_SEQ_LEN
ROTATION = 2


def _matches_two_back(x: list[str]) -> list[bool]:
    """The program's output at positions 2.. (x[i] == x[i - 2])."""
    return [x[i] == x[i - ROTATION] for i in range(ROTATION, len(x))]


def rotation_inputs(rng: np.random.Generator, n: int) -> list[list[str]]:
    """InterpBench's sampler for this case, all at full length.

    15% (rounded up) alternate two distinct letters (every comparison True), 15% cycle
    through the sorted vocabulary (every comparison False), and the rest are uniform
    draws, redrawn while no comparison is True. InterpBench's rejection test reads its
    BOS-prefixed output from index 2, which includes the None at position 1, so its
    "all True" rejection never fires: only the all-False draws are redrawn.
    """
    letters = sorted(VOCAB)
    n_true = math.ceil(n * 0.15)
    n_false = math.ceil(n * 0.15)
    out: list[list[str]] = []
    for _ in range(n_true):
        first, second = rng.choice(len(letters), size=2, replace=False)
        out.append([letters[first] if i % 2 == 0 else letters[second] for i in range(MAX_SEQ_LEN)])
    for _ in range(n_false):
        out.append([letters[i % len(letters)] for i in range(MAX_SEQ_LEN)])
    while len(out) < n:
        x = [letters[i] for i in rng.integers(0, len(letters), size=MAX_SEQ_LEN)]
        if any(_matches_two_back(x)):
            out.append(x)
    return out[:n]


@tracr_case(
    "1",
    "Whether each token equals the token two positions earlier (None at the first two positions).",
    vocab=VOCAB,
    max_seq_len=MAX_SEQ_LEN,
    generator=rotation_inputs,
)
def rotation_by_two() -> rasp.SOp:
    two_back = shift_by(ROTATION, rasp.tokens)
    return rasp.SequenceMap(lambda token, earlier: token == earlier, rasp.tokens, two_back)
