"""Case 75: double every element."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "75",
    "Every element x replaced by 2x.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def double_elements() -> rasp.SOp:
    return rasp.Map(lambda x: x * 2, rasp.tokens).named("double_elements")
