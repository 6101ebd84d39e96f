"""Case 7: token histogram."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_hist
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "7",
    "Number of times each position's token occurs in the whole input.",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def token_histogram() -> rasp.SOp:
    return make_hist()
