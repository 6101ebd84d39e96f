"""Case 2: reverse the sequence."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_reverse
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "2",
    "The input sequence in reverse order.",
    vocab=vocabs.ascii_letters(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def reverse_tokens() -> rasp.SOp:
    return make_reverse(rasp.tokens)
