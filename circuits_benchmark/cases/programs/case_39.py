"""Case 39: running fraction of 'x' tokens over a long sequence."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_frac_prevs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "39",
    "Fraction of 'x' tokens among the first i+1 positions, for every position i "
    "(case 3 with 26 letters and 59 positions).",
    vocab=vocabs.ascii_letters() | {"x"},
    max_seq_len=59,
)
def frac_of_x_long() -> rasp.SOp:
    is_x = (rasp.tokens == "x").named("is_x")
    return make_frac_prevs(is_x)
