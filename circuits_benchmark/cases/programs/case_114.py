"""Case 114: base-10 logarithm of each token."""

from __future__ import annotations

import math

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "114",
    "Replace each token x by its base-10 logarithm, computed as math.log(x, 10).",
    vocab=vocabs.int_numbers(low=1),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def logarithm() -> rasp.SOp:
    # math.log(x, 10), not math.log10: the two differ in the last bit for some x (e.g. 1000)
    return rasp.Map(lambda x: math.log(x, 10), rasp.tokens).named("logarithm")
