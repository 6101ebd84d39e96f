"""Case 14: count the 'a' tokens."""

from __future__ import annotations

from typing import Any

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def make_count(sop: rasp.SOp, token: Any) -> rasp.SOp:
    """How many positions of `sop` hold `token`, at every position."""
    # every query attends to the keys equal to `token`
    holds_token = rasp.Select(sop, sop, lambda key, query: key == token)
    return rasp.SelectorWidth(holds_token).named(f"count_{token}")


@tracr_case(
    "14",
    "Number of 'a' tokens in the input, at every position.",
    vocab=vocabs.ascii_letters(3),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def count_a() -> rasp.SOp:
    return make_count(rasp.tokens, "a")
