"""Case 35: alternating capitalisation of each word."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def alternate_capitalization(word: str) -> str:
    """Upper case at even character positions, lower case at odd ones."""
    return "".join(ch.upper() if pos % 2 == 0 else ch.lower() for pos, ch in enumerate(word))


@tracr_case(
    "35",
    "Each word rewritten with upper case at its even character positions and lower case at its odd ones.",
    vocab=vocabs.words(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def capitalization_alternator() -> rasp.SOp:
    return rasp.Map(alternate_capitalization, rasp.tokens)
