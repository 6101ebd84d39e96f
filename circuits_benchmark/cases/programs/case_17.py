"""Case 17: per-position palindrome check."""

from __future__ import annotations

import numpy as np
from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_reverse
from circuits_benchmark.cases.registry import tracr_case
from circuits_benchmark.cases.samplers import half_and_half

VOCAB = vocabs.ascii_letters(10)


def palindrome(rng: np.random.Generator, length: int) -> list[str]:
    """A palindrome: a uniform first half (middle included) followed by its mirror."""
    letters = sorted(VOCAB)
    first_half = [letters[i] for i in rng.integers(0, len(letters), size=(length + 1) // 2)]
    mirror = first_half[::-1] if length % 2 == 0 else first_half[-2::-1]
    return first_half + mirror


def non_palindrome(rng: np.random.Generator, length: int) -> list[str]:
    """A uniform draw; if it is a palindrome, its middle token is replaced by another letter.

    As in InterpBench, for odd lengths the replaced token is the centre, so such a draw
    stays a palindrome (probability 10**-4 at length 9).
    """
    letters = sorted(VOCAB)
    word = [letters[i] for i in rng.integers(0, len(letters), size=length)]
    if word == word[::-1]:
        middle = length // 2
        others = [x for x in letters if x != word[middle]]
        word[middle] = others[int(rng.integers(len(others)))]
    return word


@tracr_case(
    "17",
    "Whether each token equals the token at the mirrored position (all True exactly for palindromes).",
    vocab=VOCAB,
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    generator=half_and_half(vocabs.DEFAULT_MAX_SEQ_LEN, palindrome, non_palindrome),
    causal=False,
)
def palindrome_detection() -> rasp.SOp:
    reversed_tokens = make_reverse(rasp.tokens)
    return rasp.SequenceMap(lambda x, y: x == y, rasp.tokens, reversed_tokens).named("palindrome_detection")
