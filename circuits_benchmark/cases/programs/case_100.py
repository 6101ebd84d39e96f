"""Case 100: swap the first two tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def swap_positions(position: int, first: int, second: int) -> int:
    """`second` for `first`, `first` for `second`, any other position unchanged."""
    if position == second:
        return first
    if position == first:
        return second
    return position


@tracr_case(
    "100",
    "The tokens at positions 0 and 1 swapped, all others unchanged (None at position 0 of a "
    "one-token input, as InterpBench's program yields).",
    vocab=vocabs.int_numbers(),
    max_seq_len=len(vocabs.int_numbers()) - 1,  # InterpBench: the vocabulary size, counting BOS
    causal=False,
)
def swap_elements() -> rasp.SOp:
    swapped_index = rasp.Map(lambda i: swap_positions(i, 1, 0), rasp.indices)
    # position i reads the position j whose swapped index is i
    swap_selector = rasp.Select(swapped_index, rasp.indices, rasp.Comparison.EQ)
    return rasp.Aggregate(swap_selector, rasp.tokens)
