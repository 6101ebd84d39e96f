"""Case 119: a quadratic polynomial whose variable and coefficients are the tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

DEGREE = 2


@tracr_case(
    "119",
    "For input [x, a, b, c], a*x^2 + b*x + c at every position (None when the input is shorter).",
    vocab=vocabs.int_numbers(high=6),
    max_seq_len=4,
    causal=False,
)
def polynomial() -> rasp.SOp:
    total = rasp.tokens - rasp.tokens  # 0 everywhere; also the query picking position 0
    first_element_selector = rasp.Select(rasp.indices, total, rasp.Comparison.EQ).named(
        "first_element_selector"
    )
    base = rasp.Aggregate(first_element_selector, rasp.tokens)

    def add_term(total: rasp.SOp, i: int) -> rasp.SOp:
        """`total` plus the token at position i times base^(DEGREE + 1 - i)."""
        position = rasp.Map(lambda x: i, rasp.tokens)
        selector = rasp.Select(rasp.indices, position, rasp.Comparison.EQ).named(f"selector_{i}")
        weight = rasp.Aggregate(selector, rasp.tokens, default=None).named(f"weight_{i}")
        term = rasp.SequenceMap(lambda x, w: w * (x ** (DEGREE + 1 - i)), base, weight)
        return rasp.SequenceMap(lambda x, y: x + y, total, term)

    for i in range(1, DEGREE + 2):
        total = add_term(total, i)
    return total
