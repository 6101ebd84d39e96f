"""Case 105: next prime."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import is_prime
from circuits_benchmark.cases.registry import tracr_case


def next_prime(n: int) -> int:
    """The smallest prime that is >= `n`."""
    while not is_prime(n):
        n += 1
    return n


@tracr_case(
    "105",
    "Each token replaced by the smallest prime >= it (primes stay, 0 and 1 become 2).",
    vocab=vocabs.int_numbers(high=30),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def make_next_prime() -> rasp.SOp:
    return rasp.Map(next_prime, rasp.tokens)
