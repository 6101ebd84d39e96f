"""Case 93: swap odd positions with their successor."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


def _swap_source(i: int, n: int) -> int:
    """Where position i reads from: itself at 0 and at the last position of an even length,
    else i + 1 for odd i and i - 1 for even i."""
    if (i == n - 1 and n % 2 == 0) or i == 0:
        return i
    return i - 1 if (i + 1) % 2 == 1 else i + 1


@tracr_case(
    "93",
    "Elements at odd positions n swapped with those at n + 1 (position 0 stays; so does the last element "
    "when it has no partner).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def swap_odd_index() -> rasp.SOp:
    source = rasp.SequenceMap(_swap_source, rasp.indices, unnamed_length())
    swap_selector = rasp.Select(rasp.indices, source, rasp.Comparison.EQ)
    return rasp.Aggregate(swap_selector, rasp.tokens)
