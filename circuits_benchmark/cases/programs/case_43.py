"""Case 43: n-th Fibonacci number."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

FIBONACCI = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765]
"""F(0) .. F(20)."""


@tracr_case(
    "43",
    "The n-th Fibonacci number (F(0)=0, F(1)=1) for each token n in 0..19.",
    vocab=vocabs.int_numbers(high=20),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def nth_fibonacci() -> rasp.SOp:
    return rasp.Map(lambda n: FIBONACCI[n] if n < len(FIBONACCI) else 0, rasp.tokens).named("nth_fib")
