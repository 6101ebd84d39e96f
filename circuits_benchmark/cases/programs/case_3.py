"""Case 3: running fraction of 'x' tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_frac_prevs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "3",
    "Fraction of 'x' tokens among the first i+1 positions, for every position i.",
    vocab=vocabs.ascii_letters(3) | {"x"},
    max_seq_len=4,
)
def frac_of_x() -> rasp.SOp:
    is_x = (rasp.tokens == "x").named("is_x")
    return make_frac_prevs(is_x)
