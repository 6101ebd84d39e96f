"""The input vocabularies InterpBench's cases draw from."""

from __future__ import annotations

import random
import string

DEFAULT_MAX_SEQ_LEN = 9
"""InterpBench's default sequence length: 10 with BOS, 9 without (our `max_seq_len` excludes BOS)."""


def ascii_letters(count: int = 26) -> set[str]:
    """The first `count` lowercase letters."""
    return set(string.ascii_lowercase[:count])


def str_digits(count: int = 10) -> set[str]:
    """The digit characters '0' .. str(count - 1)."""
    return set(string.digits[:count])


def int_digits(count: int = 10) -> set[int]:
    """The integers 0 .. count - 1."""
    return {int(d) for d in str_digits(count)}


def str_numbers(low: int = 0, high: int = 20) -> set[str]:
    """The numbers low .. high - 1 as strings."""
    return {str(d) for d in range(low, high)}


def int_numbers(low: int = 0, high: int = 11) -> set[int]:
    """The integers low .. high - 1."""
    return set(range(low, high))


def float_numbers(low: float = 0, high: float = 5, count: int = 20) -> set[float]:
    """`count` evenly spaced floats from `low` (inclusive) towards `high` (exclusive)."""
    return {low + x * (high - low) / count for x in range(count)}


def words(seed: int = 42, min_chars: int = 1, max_chars: int = 8, min_words: int = 5, max_words: int = 20) -> set[str]:
    """InterpBench's random word vocabulary: letter strings drawn from Python's `random` seeded with `seed`.

    A private `random.Random` gives the same words as seeding the global generator, without touching it.
    """
    rng = random.Random(seed)
    vocab: set[str] = set()
    for _ in range(rng.randint(min_words, max_words)):
        length = rng.randint(min_chars, max_chars)
        vocab.add("".join(rng.choice(string.ascii_letters) for _ in range(length)))
    return vocab
