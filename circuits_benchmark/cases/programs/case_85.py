"""Case 85: square every element."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "85",
    "Every element x replaced by x squared.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def square_each_element() -> rasp.SOp:
    return rasp.Map(lambda x: x**2, rasp.tokens).named("square_each_element")
