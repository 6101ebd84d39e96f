"""Case 24: copy tokens (InterpBench's "first occurrence" case)."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "24",
    "Each token copied unchanged (an Aggregate over the same-position selector, "
    "which is what InterpBench's 'first occurrence' program computes).",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def leading_token_identification() -> rasp.SOp:
    same_position = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.EQ)
    return rasp.Aggregate(same_position, rasp.tokens, default=None).named("first_occurrence")
