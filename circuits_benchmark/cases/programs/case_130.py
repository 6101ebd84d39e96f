"""Case 130: clip each token to [2, 7]."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

MIN_VAL, MAX_VAL = 2, 7


@tracr_case(
    "130",
    "Clip each token to the range [2, 7].",
    vocab=vocabs.int_numbers(low=-15, high=15),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def clip() -> rasp.SOp:
    all_min_val = rasp.Map(lambda x: MIN_VAL, rasp.tokens)
    all_max_val = rasp.Map(lambda x: MAX_VAL, rasp.tokens)
    # Raise tokens below MIN_VAL to it, then lower values above MAX_VAL to it.
    clip_min = rasp.SequenceMap(lambda x, low: low if x < MIN_VAL else x, rasp.tokens, all_min_val)
    return rasp.SequenceMap(lambda x, high: high if x > MAX_VAL else x, clip_min, all_max_val)
