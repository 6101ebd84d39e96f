"""Case 118: each token plus the previous one."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "118",
    "Each token plus the previous token (None at position 0, as InterpBench's program yields).",
    vocab=vocabs.int_numbers(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def pairwise_sum() -> rasp.SOp:
    previous = shift_by(1, rasp.tokens).named("shifted_sequence")
    # Meant to put 0 at position 0, but the shifted value there is None, so the result stays None.
    shifted = rasp.SequenceMap(lambda x, i: x if i > 0 else 0, previous, rasp.indices)
    # InterpBench names this node "pairwise_max" although it is a sum.
    return rasp.SequenceMap(lambda x, y: int(x + y), rasp.tokens, shifted).named("pairwise_max")
