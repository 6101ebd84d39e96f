"""Case 18: classify tokens by frequency."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_hist, make_length
from circuits_benchmark.cases.registry import tracr_case


def _frequency_class(count: int, total: int) -> str:
    if count > total / 2:
        return "frequent"
    if count > total / 4:
        return "common"
    return "rare"


@tracr_case(
    "18",
    "'frequent' for tokens making up over half of the input, 'common' for over a quarter, else 'rare'.",
    vocab=vocabs.ascii_letters(5),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def frequency_classifier() -> rasp.SOp:
    frequency = make_hist()
    total = make_length()
    return rasp.SequenceMap(_frequency_class, frequency, total)
