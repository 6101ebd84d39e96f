"""Case 10: keep symmetric (palindromic) words."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


@tracr_case(
    "10",
    "Each word whose first half mirrors its second half (a palindrome), None for the other words.",
    vocab=vocabs.words() | {"radar", "rotor"},
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def symmetric_words() -> rasp.SOp:
    half_length = rasp.Map(lambda word: len(word) // 2, rasp.tokens)
    # the first `half` letters equal the last `half` letters read backwards
    halves_mirror = rasp.SequenceMap(
        lambda word, half: word[:half] == word[::-1][:half], rasp.tokens, half_length
    )
    return rasp.SequenceMap(lambda word, ok: word if ok else None, rasp.tokens, halves_mirror)
