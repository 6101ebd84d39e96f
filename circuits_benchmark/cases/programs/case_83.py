"""Case 83: triple every element."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "83",
    "Every element x replaced by 3x.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def triple() -> rasp.SOp:
    return rasp.Map(lambda x: x * 3, rasp.tokens).named("triple_sequence")
