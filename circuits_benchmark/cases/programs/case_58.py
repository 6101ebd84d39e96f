"""Case 58: mirror the first half onto the second half."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "58",
    "The token at position i for i < length // 2, else the token at position length - 1 - i "
    "(the first half mirrored onto the second half).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def mirror_first_half() -> rasp.SOp:
    length = make_length()
    # InterpBench also builds a "first_half_selector" that nothing uses; it is not part of the program
    source_index = rasp.SequenceMap(lambda i, n: n - 1 - i if i >= n // 2 else i, rasp.indices, length)
    mirror_selector = rasp.Select(rasp.indices, source_index, rasp.Comparison.EQ).named("mirror_selector")
    return rasp.Aggregate(mirror_selector, rasp.tokens, default=None).named("mirrored_sequence")
