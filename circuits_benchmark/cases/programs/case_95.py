"""Case 95: count distinct prime factors."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def count_prime_factors(n: int) -> int:
    """The number of distinct prime factors of `n` (0 for 0 and 1)."""
    if n == 0:
        return 0
    count = 0
    if n % 2 == 0:
        count += 1
        while n % 2 == 0:
            n //= 2
    factor = 3
    while factor * factor <= n:
        if n % factor == 0:
            count += 1
            while n % factor == 0:
                n //= factor
        factor += 2
    if n > 2:  # what is left is a prime factor above sqrt(n)
        count += 1
    return count


@tracr_case(
    "95",
    "Every element replaced by its number of distinct prime factors (0 for 0 and 1).",
    vocab=vocabs.int_numbers(high=30),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def count_distinct_prime_factors() -> rasp.SOp:
    return rasp.Map(count_prime_factors, rasp.tokens)
