"""Case 74: interleave with the reverse."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import unnamed_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "74",
    "Elements at even positions stay; odd position i takes the element at n - i (n even) or n - i - 1 "
    "(n odd), i.e. the odd positions' elements in reverse order, n being the length.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def interleave_reverse() -> rasp.SOp:
    length = unnamed_length()
    # source position: i for even i; for odd i the mirrored odd position
    source = rasp.SequenceMap(
        lambda i, n: i if i % 2 == 0 else (n - i if n % 2 == 0 else n - i - 1), rasp.indices, length
    )
    read_source = rasp.Select(rasp.indices, source, rasp.Comparison.EQ)
    return rasp.Aggregate(read_source, rasp.tokens)
