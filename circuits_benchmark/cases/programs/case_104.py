"""Case 104: exponential."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "104",
    "e raised to each token.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def exponential() -> rasp.SOp:
    return rasp.Map(lambda x: math.exp(x), rasp.tokens)
