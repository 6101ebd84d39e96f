"""Case 106: mask all but position 1."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "106",
    "The token at position 1 kept, every other position set to 0.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def mask_sequence() -> rasp.SOp:
    return rasp.SequenceMap(lambda x, i: x if i == 1 else 0, rasp.tokens, rasp.indices)
