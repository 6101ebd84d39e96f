"""Case 72: negation."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "72",
    "Every element x replaced by -x.",
    vocab=vocabs.int_numbers(-10, 10),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def negation() -> rasp.SOp:
    return rasp.Map(lambda x: -x, rasp.tokens).named("negated_sequence")
