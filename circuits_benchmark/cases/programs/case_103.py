"""Case 103: swap adjacent pairs."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "103",
    "Swap the tokens of each adjacent pair (0, 1), (2, 3), ...; the unpaired last token of an "
    "odd-length input stays in place.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def swap_consecutive() -> rasp.SOp:
    length = unnamed_length()
    # partner position: i+1 for even i, i-1 for odd i, itself for the last position of an odd length
    partner = rasp.SequenceMap(
        lambda i, n: i if (i == n - 1 and n % 2 == 1) else (i + 1 if i % 2 == 0 else i - 1),
        rasp.indices,
        length,
    )
    swap_selector = rasp.Select(rasp.indices, partner, rasp.Comparison.EQ)
    return rasp.Aggregate(swap_selector, rasp.tokens)
