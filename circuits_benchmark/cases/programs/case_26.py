"""Case 26: token cascade."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "26",
    "Each token repeated i+1 times, where i is its position ('a', 'bb', 'ccc', ...).",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def token_cascade() -> rasp.SOp:
    return rasp.SequenceMap(lambda token, i: token * (i + 1), rasp.tokens, rasp.indices)
