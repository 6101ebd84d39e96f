"""Case 64: cube."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "64",
    "Cube of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def cube() -> rasp.SOp:
    return rasp.Map(lambda x: x**3, rasp.tokens).named("cube_sequence")
