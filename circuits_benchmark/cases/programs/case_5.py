"""Case 5: shuffle-Dyck-2 (balanced () and {})."""

from __future__ import annotations

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_shuffle_dyck
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import half_and_half, uniform_input

VOCAB = {"(", ")", "{", "}", "x"}
OPENERS = ("(", "{")
CLOSER_OF = {"(": ")", "{": "}"}
OPENER_OF = {")": "(", "}": "{"}


def balanced_brackets(rng: np.random.Generator, length: int) -> list[str]:
    """A word in which () and {} are each balanced, drawn as InterpBench draws it.

    At each position the token is uniform over what keeps completion possible: a closer
    for every bracket type still open, 'x' if one free slot remains after closing all
    open brackets, and both openers if two do.
    """
    word: list[str] = []
    still_open: list[str] = []
    while len(word) < length:
        room = length - len(word)
        allowed = {CLOSER_OF[o] for o in still_open}
        if len(still_open) + 1 <= room:
            allowed.add("x")
        if len(still_open) + 2 <= room:
            allowed.update(OPENERS)
        options = sorted(allowed)
        token = options[int(rng.integers(len(options)))]
        word.append(token)
        if token in CLOSER_OF:
            still_open.append(token)
        elif token in OPENER_OF:
            still_open.remove(OPENER_OF[token])
    return word


@tracr_case(
    "5",
    "True at every position when both () and {} are balanced in the whole input (shuffle-Dyck-2), else False.",
    vocab=VOCAB,
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    generator=half_and_half(vocabs.DEFAULT_MAX_SEQ_LEN, balanced_brackets, uniform_input(VOCAB)),
    causal=False,
)
def shuffle_dyck_two() -> rasp.SOp:
    return make_shuffle_dyck(["()", "{}"])
