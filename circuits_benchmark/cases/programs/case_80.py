"""Case 80: subtract a constant."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

CONSTANT = 2


@tracr_case(
    "80",
    f"Every element x replaced by x - {CONSTANT}.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def subtract_constant() -> rasp.SOp:
    return rasp.Map(lambda x: x - CONSTANT, rasp.tokens).named(f"subtract_{CONSTANT}")
