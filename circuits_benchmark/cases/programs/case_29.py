"""Case 29: abbreviate words."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "29",
    "Each word cut to its first three letters (shorter words unchanged).",
    vocab=vocabs.words(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def abbreviate() -> rasp.SOp:
    return rasp.Map(lambda word: word[:3] if len(word) > 3 else word, rasp.tokens)
