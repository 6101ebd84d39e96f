"""Case 48: increment by index."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "48",
    "Each element plus its position index.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def increment_by_index() -> rasp.SOp:
    return rasp.SequenceMap(lambda x, i: x + i, rasp.tokens, rasp.indices).named("incremented_sequence")
