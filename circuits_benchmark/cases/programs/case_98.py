"""Case 98: broadcast the maximum."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_max_element
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "98",
    "The largest token of the sequence, repeated at every position.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def max_element() -> rasp.SOp:
    return make_max_element()
