"""Case 108: at least two equal tokens."""

from __future__ import annotations

from typing import Any

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import constant
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import distinct_input, half_and_half, shuffled

VOCAB = vocabs.int_numbers()
# different tokens, drawn without replacement in random order
distinct_tokens = distinct_input(VOCAB)


def with_a_repeat(rng: np.random.Generator, length: int) -> list[Any]:
    """`length - 1` different tokens plus a copy of one of them, shuffled."""
    tokens = distinct_tokens(rng, length - 1)
    tokens.append(tokens[rng.integers(len(tokens))])
    return shuffled(rng, tokens)


@tracr_case(
    "108",
    "1 at every position if some token occurs at least twice in the sequence, else 0.",
    vocab=VOCAB,
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    # half with one repeated token, half with all tokens different
    generator=half_and_half(vocabs.DEFAULT_MAX_SEQ_LEN, with_a_repeat, distinct_tokens),
    causal=False,
)
def at_least_two_equal() -> rasp.SOp:
    equal_selector = rasp.Select(rasp.tokens, rasp.tokens, lambda key, query: key == query)
    copies = rasp.SelectorWidth(equal_selector)
    two = constant(2)
    repeated_selector = rasp.Select(copies, two, rasp.Comparison.GEQ)  # positions whose token repeats
    return rasp.Map(lambda n: 1 if n > 0 else 0, rasp.SelectorWidth(repeated_selector))
