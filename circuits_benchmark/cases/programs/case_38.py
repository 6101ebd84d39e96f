"""Case 38: does each token differ from both neighbours."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "38",
    "True where the token differs from both the previous and the next token "
    "(a missing neighbour at either end, None, counts as different).",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def alternation_checker() -> rasp.SOp:
    prev_token = shift_by(1, rasp.tokens)
    next_token = shift_by(-1, rasp.tokens)
    prev_token_neq_orig = rasp.SequenceMap(lambda x, y: x != y, prev_token, rasp.tokens).named("prev_token_neq_orig")
    next_token_neq_orig = rasp.SequenceMap(lambda x, y: x != y, rasp.tokens, next_token).named("next_token_neq_orig")
    return rasp.SequenceMap(lambda x, y: x and y, prev_token_neq_orig, next_token_neq_orig).named(
        "alternation_checker"
    )
