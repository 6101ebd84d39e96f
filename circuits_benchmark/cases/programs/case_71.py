"""Case 71: divide by the length."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "71",
    "Every element divided by the length of the sequence.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def divide_by_length() -> rasp.SOp:
    length = make_length()
    return rasp.SequenceMap(
        lambda x, n: x / n if n > 0 else 0, rasp.tokens, length
    ).named("divided_by_length")
