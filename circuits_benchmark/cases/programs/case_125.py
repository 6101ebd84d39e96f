"""Case 125: do even and odd tokens alternate."""

from __future__ import annotations

from typing import Any

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import all_checks_pass
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import half_and_half, ordered, uniform_input

VOCAB = vocabs.int_numbers()
MAX_SEQ_LEN = vocabs.DEFAULT_MAX_SEQ_LEN


def _alternating_input(rng: np.random.Generator, length: int) -> list[Any]:
    """Even, odd, even, ... tokens, each drawn uniformly from its parity class."""
    evens = [x for x in ordered(VOCAB) if x % 2 == 0]
    odds = [x for x in ordered(VOCAB) if x % 2 == 1]
    sequence = []
    for i in range(length):
        choices = evens if i % 2 == 0 else odds
        sequence.append(choices[rng.integers(len(choices))])
    return sequence


@tracr_case(
    "125",
    "1 at every position if every token differs in parity from its predecessor "
    "(position 0 is compared with position 1), else 0; a one-token input makes evaluation fail "
    "(None key in the count selector), as InterpBench's program does.",
    vocab=VOCAB,
    max_seq_len=MAX_SEQ_LEN,
    generator=half_and_half(MAX_SEQ_LEN, _alternating_input, uniform_input(VOCAB)),
    causal=False,
)
def check_alternating() -> rasp.SOp:
    # Query q reads key q - 1; position 0 reads position 1.
    neighbour_selector = rasp.Select(
        rasp.indices, rasp.indices, lambda k, q: q == k + 1 or k == 1 and q == 0
    )
    neighbour = rasp.Aggregate(neighbour_selector, rasp.tokens)
    neighbour_even = rasp.Map(lambda x: 1 if x % 2 == 0 else 0, neighbour)
    token_odd = rasp.Map(lambda x: 1 if x % 2 == 1 else 0, rasp.tokens)
    # 1 where the token and its neighbour have different parities.
    checks = rasp.SequenceMap(lambda x, y: 1 if x == y else 0, neighbour_even, token_odd)
    return all_checks_pass(checks)
