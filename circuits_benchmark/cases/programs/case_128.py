"""Case 128: swap the first and the last token."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


def _swapped_position(i: int, n: int) -> int:
    """Where the token at position i goes: 0 and n - 1 trade places, the rest stay."""
    if i == 0:
        return n - 1
    if i + 1 == n:
        return 0
    return i


@tracr_case(
    "128",
    "Exchange the first and the last token; the others stay in place.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def swap_first_last() -> rasp.SOp:
    swapper = rasp.SequenceMap(_swapped_position, rasp.indices, unnamed_length())
    swap_selector = rasp.Select(swapper, rasp.indices, rasp.Comparison.EQ)
    return rasp.Aggregate(swap_selector, rasp.tokens)
