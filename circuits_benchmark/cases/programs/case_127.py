"""Case 127: divide each token by the ratio of the first two tokens."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import constant, unnamed_length
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "127",
    "Each token divided by (second token / first token); the divisor is 1 when either of the "
    "first two tokens is 0 or the input has one token.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def element_divide() -> rasp.SOp:
    first_elem_selector = rasp.Select(rasp.indices, constant(0), rasp.Comparison.EQ).named("first_elem_selector")
    first_elem = rasp.Aggregate(first_elem_selector, rasp.tokens).named("first_elem")
    # Position 1, or position 0 again for a one-token input.
    second_position = rasp.Map(lambda n: 1 if n > 1 else 0, unnamed_length())
    second_elem_selector = rasp.Select(rasp.indices, second_position, rasp.Comparison.EQ).named(
        "second_elem_selector"
    )
    second_elem = rasp.Aggregate(second_elem_selector, rasp.tokens).named("second_elem")
    divisor = rasp.SequenceMap(
        lambda first, second: second / first if first != 0 and second != 0 else 1, first_elem, second_elem
    ).named("divisor")
    return rasp.SequenceMap(lambda x, d: x / d, rasp.tokens, divisor).named("result_sequence")
