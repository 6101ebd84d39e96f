"""Case 87: binarize with a threshold."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

THRESHOLD = 3


@tracr_case(
    "87",
    f"Every element replaced by 1 if it is >= {THRESHOLD}, else 0.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def binarize() -> rasp.SOp:
    at_least_threshold = rasp.Map(lambda x: x >= THRESHOLD, rasp.tokens)
    return rasp.Map(lambda b: 1 if b else 0, at_least_threshold)
