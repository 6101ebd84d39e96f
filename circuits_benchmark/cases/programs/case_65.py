"""Case 65: cube root."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "65",
    "Real cube root of each element.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def cube_root() -> rasp.SOp:
    # the real root of a negative number is minus the root of its absolute value
    return rasp.Map(lambda x: x ** (1 / 3) if x >= 0 else -((-x) ** (1 / 3)), rasp.tokens).named(
        "cube_root_operation"
    )
