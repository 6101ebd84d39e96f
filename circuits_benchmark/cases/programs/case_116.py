"""Case 116: is each token a multiple of the first one."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import constant
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "116",
    "1 where the token is a multiple of the first token, else 0 (0 everywhere when the first token is 0).",
    vocab=vocabs.int_numbers(),
    max_seq_len=10,  # InterpBench: len(vocab) = 11 with BOS
    causal=False,
)
def multiple_of_first() -> rasp.SOp:
    first = rasp.Aggregate(rasp.Select(rasp.indices, constant(0), rasp.Comparison.EQ), rasp.tokens)
    return rasp.SequenceMap(
        lambda x, f: (1 if x % f == 0 else 0) if f != 0 else 0, rasp.tokens, first
    )
