"""Case 131: maximum of each token and the previous one."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "131",
    "Maximum of each token and the previous token (None at position 0, as InterpBench's program yields).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def pairwise_max() -> rasp.SOp:
    shifted_sequence = shift_by(1, rasp.tokens).named("shifted_sequence")
    return rasp.SequenceMap(lambda x, y: int(max(x, y)), rasp.tokens, shifted_sequence).named("pairwise_max")
