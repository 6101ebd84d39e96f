"""Case 21: unique tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_unique_token_extractor
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "21",
    "Each token at its first occurrence, None at later repeats.",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def unique_tokens() -> rasp.SOp:
    return make_unique_token_extractor(rasp.tokens)
