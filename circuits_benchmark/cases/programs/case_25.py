"""Case 25: token frequency over length."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_hist, make_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "25",
    "How often each position's token occurs in the input, divided by the input length.",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def frequency_normalization() -> rasp.SOp:
    return rasp.SequenceMap(
        lambda count, length: count / length if length > 0 else None, make_hist(), make_length()
    )
