"""Case 56: zero every third element."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "56",
    "Each element set to 0 at positions 2, 5, 8, ... (every third, counting from 1), unchanged elsewhere.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def zero_every_third() -> rasp.SOp:
    every_third = rasp.Map(lambda i: (i + 1) % 3 == 0, rasp.indices).named("every_third")
    # Tracr folds this Map of a Map into one Map over the indices (bool -> 0/1)
    every_third_numerical = rasp.Map(lambda flag: 1 if flag else 0, every_third).named("every_third_numerical")
    return rasp.SequenceMap(lambda x, is_third: 0 if is_third else x, rasp.tokens, every_third_numerical).named(
        "result_sequence"
    )
