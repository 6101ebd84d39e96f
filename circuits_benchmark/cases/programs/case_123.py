"""Case 123: arccosine of each token."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "123",
    "Replace each token x by arccos(x).",
    vocab=vocabs.float_numbers(low=-1, high=1),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def arccosine() -> rasp.SOp:
    return rasp.Map(math.acos, rasp.tokens)
