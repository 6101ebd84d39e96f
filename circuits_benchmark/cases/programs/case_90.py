"""Case 90: token replacer."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case

TARGET = "findme"
REPLACEMENT = "-"


@tracr_case(
    "90",
    f"Every {TARGET!r} token replaced by {REPLACEMENT!r}, other words unchanged (InterpBench marks this case trivial).",
    vocab=vocabs.words() | {TARGET, REPLACEMENT},
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def token_replacer() -> rasp.SOp:
    return rasp.Map(lambda x: REPLACEMENT if x == TARGET else x, rasp.tokens)
