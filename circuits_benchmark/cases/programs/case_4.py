"""Case 4: running balance of parentheses."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_pair_balance
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "4",
    "Fraction of '(' tokens minus fraction of ')' tokens among the first i+1 positions, for every position i.",
    vocab=vocabs.ascii_letters(3) | {"(", ")"},
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def paren_balance() -> rasp.SOp:
    return make_pair_balance(rasp.tokens, "(", ")")
