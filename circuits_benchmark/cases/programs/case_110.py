"""Case 110: insert zeros."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "110",
    "The first half of the tokens with a 0 after each: tokens[i / 2] at even positions i, 0 at odd ones.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def insert_zeros() -> rasp.SOp:
    half_selector = rasp.Select(rasp.indices, rasp.indices, lambda key, query: key == int(query / 2))
    spread = rasp.Aggregate(half_selector, rasp.tokens)
    return rasp.SequenceMap(lambda x, i: x if i % 2 == 0 else 0, spread, rasp.indices)
