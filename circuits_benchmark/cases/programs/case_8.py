"""Case 8: identity."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "8",
    "The input tokens unchanged (a single identity Map).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def identity() -> rasp.SOp:
    return rasp.Map(lambda x: x, rasp.tokens)
