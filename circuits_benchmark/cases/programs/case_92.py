"""Case 92: zero elements smaller than the previous one."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import previous_token
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "92",
    "Every element smaller than the element before it set to 0; the others (and position 0) unchanged.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def zero_if_less_than_previous() -> rasp.SOp:
    shifted = previous_token().named("shifted_sequence_with_placeholder")
    return rasp.SequenceMap(
        lambda x, prev: 0 if x < prev else x, rasp.tokens, shifted
    ).named("zero_if_less_than_previous")
