"""Case 66: round to the nearest integer."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "66",
    "Each number (0, 0.25, ..., 4.75) rounded to the nearest integer, halves rounded up (int(x + 0.5)).",
    vocab=vocabs.float_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def round_each() -> rasp.SOp:
    shift_for_rounding = rasp.Map(lambda x: x + 0.5, rasp.tokens).named("shift_for_rounding")
    # Tracr folds this Map of a Map into one Map over the tokens
    return rasp.Map(lambda x: int(x), shift_for_rounding).named("rounded_sequence")
