"""Case 91: zero values below a threshold."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

THRESHOLD = 3


@tracr_case(
    "91",
    f"Every element below {THRESHOLD} set to 0; the others keep their value.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def apply_threshold() -> rasp.SOp:
    return rasp.Map(lambda x: 0 if x < THRESHOLD else x, rasp.tokens).named("apply_threshold")
