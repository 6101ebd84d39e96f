"""Case 19: blank out consecutive duplicates."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "19",
    "Each token, or None where it equals the previous token (None at position 0 too, as InterpBench's program yields).",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=14,
)
def sequential_duplicate_removal() -> rasp.SOp:
    previous = shift_by(1, rasp.tokens)
    return rasp.SequenceMap(
        lambda token, before: token if token != before else None, rasp.tokens, previous
    ).named("sequential_duplicate_removal")
