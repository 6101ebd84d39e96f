"""Case 97: scale by the maximum."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_max_element
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "97",
    "Each token divided by the largest token of the sequence (0 where the largest token is 0).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def scale_by_max() -> rasp.SOp:
    max_element = make_max_element().named("max_element")
    return rasp.SequenceMap(
        lambda x, largest: x / largest if largest > 0 else 0, rasp.tokens, max_element
    ).named("scale_by_max_sequence")
