"""Case 15: token + token - index through an n-ary SequenceMap."""

from __future__ import annotations

from typing import Any, Callable

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def make_nary_sequencemap(f: Callable[..., Any], *sops: rasp.SOp) -> rasp.SOp:
    """`f` applied to n SOps: binary SequenceMaps build n-tuples (categorical), then one Map calls `f`."""
    values, *rest = sops
    for sop in rest:
        # the first SequenceMap pairs two plain values; later ones extend the tuple
        values = rasp.SequenceMap(
            lambda acc, y: (*acc, y) if isinstance(acc, tuple) else (acc, y), values, sop
        )
    return rasp.Map(lambda args: f(*args), values)


@tracr_case(
    "15",
    "Each token doubled minus its position (x + x - i), through a Map over (token, token, index) tuples.",
    vocab=vocabs.int_digits(5),
    max_seq_len=4,
)
def double_minus_index() -> rasp.SOp:
    return make_nary_sequencemap(lambda x, y, i: x + y - i, rasp.tokens, rasp.tokens, rasp.indices)
