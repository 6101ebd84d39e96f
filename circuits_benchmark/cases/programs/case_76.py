"""Case 76: zero the even positions."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "76",
    "Elements at even positions (0, 2, 4, ...) set to 0; elements at odd positions keep their value.",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def zero_even_indices() -> rasp.SOp:
    # an identity copy of the positions (InterpBench names this Map "indices")
    indices = rasp.Map(lambda i: i, rasp.indices).named("indices")
    # 0 marks an even position, -1 an odd one
    even_odd_marker = rasp.Map(lambda i: 0 if i % 2 == 0 else -1, indices).named("even_odd_marker")
    return rasp.SequenceMap(
        lambda x, marker: x if marker == -1 else 0, rasp.tokens, even_odd_marker
    ).named("final_sequence")
