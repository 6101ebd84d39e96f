"""Case 115: product of each token with the next one."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by_one_clamped
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "115",
    "Product of each token with the next one; the last token is multiplied by itself.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def product_with_next() -> rasp.SOp:
    # the next token, and the last token itself at the last position
    next_token = shift_by_one_clamped()
    return rasp.SequenceMap(lambda x, y: x * y, rasp.tokens, next_token)
