"""Case 99: sum with the next token."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by_one_clamped
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "99",
    "Each token plus the token after it; the last position adds the last token to itself "
    "(as InterpBench's program yields).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def sum_with_next() -> rasp.SOp:
    shifted = shift_by_one_clamped()
    # adding 0 is the identity, so this is always x + y
    return rasp.SequenceMap(lambda x, y: x + y if y != 0 else x, rasp.tokens, shifted)
