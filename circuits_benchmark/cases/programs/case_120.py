"""Case 120: swap the two halves of the sequence."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


def _new_position(i: int, half: float) -> float:
    """Where the token at position i goes, given half the length (x.5 for odd lengths)."""
    if half == int(half):  # even length: the halves trade places
        return i - half if i >= half else i + half
    if i + 0.5 == half:  # odd length: the middle token stays
        return i
    k = int(half)  # odd length: first k tokens move after the middle, last k before it
    return i + k + 1 if i < half else i - k - 1


@tracr_case(
    "120",
    "Swap the first and second halves of the sequence; for odd lengths the middle token stays in place.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def flip_halves() -> rasp.SOp:
    half = rasp.Map(lambda n: n / 2, unnamed_length())
    new_positions = rasp.SequenceMap(_new_position, rasp.indices, half)
    shifter = rasp.Select(new_positions, rasp.indices, rasp.Comparison.EQ)
    return rasp.Aggregate(shifter, rasp.tokens)
