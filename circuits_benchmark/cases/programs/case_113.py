"""Case 113: reverse if sorted."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import count_zeros, previous_token, unnamed_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "113",
    "The sequence reversed if it is non-decreasing, otherwise unchanged.",
    vocab=vocabs.int_numbers(high=30),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def invert_if_sorted() -> rasp.SOp:
    # previous token at each position (position 0 reads itself)
    prev = previous_token()
    in_order = rasp.SequenceMap(lambda p, x: 1 if p <= x else 0, prev, rasp.tokens)
    descents = count_zeros(in_order)
    # -1 (mirror the positions) when there is no descent, 1 (keep them) otherwise
    direction = rasp.Map(lambda n: 1 if n > 0 else -1, descents)
    length = unnamed_length()
    middle = rasp.Map(lambda n: n / 2 - 0.5, length)
    offset = rasp.SequenceMap(lambda i, m: i - m, rasp.indices, middle)
    source = rasp.SequenceMap(lambda m, d: m + d, middle, rasp.SequenceMap(lambda s, o: s * o, direction, offset))
    return rasp.Aggregate(rasp.Select(source, rasp.indices, rasp.Comparison.EQ), rasp.tokens)
