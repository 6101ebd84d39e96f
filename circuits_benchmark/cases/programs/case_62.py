"""Case 62: factorial."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def factorial(n: int) -> int:
    """n! by recursion."""
    return 1 if n == 0 else n * factorial(n - 1)


@tracr_case(
    "62",
    "Factorial of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def factorial_each() -> rasp.SOp:
    return rasp.Map(lambda x: factorial(x), rasp.tokens).named("factorial")
