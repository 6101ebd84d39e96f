"""Case 12: detect the pattern 'abc'."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import detect_pattern
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "12",
    "True at the last position of each occurrence of 'abc', False elsewhere (None at the first two positions).",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=14,
)
def detect_abc() -> rasp.SOp:
    return detect_pattern(rasp.tokens, "abc")
