"""Case 112: difference to the next token."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by_one_clamped
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "112",
    "The next token minus each token; 0 at the last position, which InterpBench's program compares "
    "with itself.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def difference_to_next() -> rasp.SOp:
    shifted = shift_by_one_clamped()
    return rasp.SequenceMap(lambda x, y: x - y, shifted, rasp.tokens)
