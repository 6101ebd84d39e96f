"""Case 117: sum of the last two tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import last_two_tokens
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "117",
    "Sum of the last two tokens, at every position (None for a one-token input).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def sum_of_last_two() -> rasp.SOp:
    last, second_to_last = last_two_tokens()
    return rasp.SequenceMap(lambda x, y: x + y, last, second_to_last)
