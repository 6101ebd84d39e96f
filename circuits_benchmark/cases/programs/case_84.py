"""Case 84: arctangent."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "84",
    "Every element x replaced by arctan(x).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def arctangent() -> rasp.SOp:
    return rasp.Map(lambda x: math.atan(x), rasp.tokens).named("arctangent")
