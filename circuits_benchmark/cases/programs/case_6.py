"""Case 6: oscillation (turning point) detector."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.blocks import shift_by
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "6",
    "Whether each digit is a turning point: 'previous < current' differs from 'current < next' "
    "(None at the first and last positions).",
    vocab=vocabs.int_digits(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
    causal=False,
)
def oscillation_detector() -> rasp.SOp:
    previous = shift_by(1, rasp.tokens)
    following = shift_by(-1, rasp.tokens)
    rises_into = rasp.SequenceMap(lambda before, after: after > before, previous, rasp.tokens)
    rises_out = rasp.SequenceMap(lambda before, after: after > before, rasp.tokens, following)
    return rasp.SequenceMap(lambda a, b: a != b, rises_into, rises_out)
