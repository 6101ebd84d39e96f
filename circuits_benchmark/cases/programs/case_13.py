"""Case 13: trend from each digit to the next."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case


def _trend(current: int, following: int) -> str:
    if current < following:
        return "increasing"
    if current > following:
        return "decreasing"
    return "constant"


@tracr_case(
    "13",
    "'increasing', 'decreasing' or 'constant' from each digit to the next one (None at the last position).",
    vocab=vocabs.int_digits(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def trend_analysis() -> rasp.SOp:
    following = shift_by(-1, rasp.tokens)
    return rasp.SequenceMap(_trend, rasp.tokens, following)
