"""Case 82: halve the second half."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import make_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "82",
    "Elements at positions >= length // 2 halved (x / 2); the first half unchanged.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def halve_second_half() -> rasp.SOp:
    length = make_length()
    half_length = rasp.Map(lambda n: n // 2, length).named("half_length")
    in_second_half = rasp.SequenceMap(
        lambda i, half: i >= half, rasp.indices, half_length
    ).named("in_second_half")
    return rasp.SequenceMap(
        lambda x, second: x / 2 if second else x, rasp.tokens, in_second_half
    ).named("halved_sequence")
