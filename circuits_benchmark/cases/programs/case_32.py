"""Case 32: boundaries between different words."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "32",
    "Whether each word differs from the previous word (None at position 0).",
    vocab=vocabs.words(min_chars=4, max_words=10),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def boundary_detector() -> rasp.SOp:
    previous = shift_by(1, rasp.tokens)
    return rasp.SequenceMap(lambda word, before: word != before, rasp.tokens, previous)
