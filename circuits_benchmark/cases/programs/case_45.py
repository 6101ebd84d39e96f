"""Case 45: double the first half."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "45",
    "Each element doubled at positions i < length / 2, unchanged elsewhere.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def double_first_half() -> rasp.SOp:
    # the length's all-true selector is left unnamed here (unlike blocks.make_length)
    length = unnamed_length(rasp.tokens).named("length")
    first_half_selector = rasp.SequenceMap(
        lambda i, n: 1 if i < n / 2 else 0, rasp.indices, length
    ).named("first_half_selector")
    # multiply by 2 in the first half (flag 1), by 1 elsewhere
    return rasp.SequenceMap(lambda x, flag: x * (1 + flag), rasp.tokens, first_half_selector).named(
        "double_first_half"
    )
