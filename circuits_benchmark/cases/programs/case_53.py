"""Case 53: increment elements at odd positions."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "53",
    "Each element plus one at odd positions, unchanged at even positions.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def increment_odd_indices() -> rasp.SOp:
    odd_index_marker = rasp.Map(lambda i: i % 2, rasp.indices).named("odd_index_marker")
    return rasp.SequenceMap(lambda x, odd: x + odd, rasp.tokens, odd_index_marker).named("incremented_elements")
