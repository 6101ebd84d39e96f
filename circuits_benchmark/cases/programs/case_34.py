"""Case 34: vowel-to-consonant ratio of each word."""

from __future__ import annotations

from tracr.rasp import rasp

from circuits_benchmark.cases import vocabs
from circuits_benchmark.cases.registry import tracr_case


def vowel_consonant_ratio(word: str) -> float:
    """Vowels (a, e, i, o, u in either case) per consonant; infinity when the word has no consonant."""
    n_vowels = sum(ch in "aeiou" for ch in word.lower())
    n_consonants = len(word) - n_vowels
    return n_vowels / n_consonants if n_consonants != 0 else float("inf")


@tracr_case(
    "34",
    "For each word, its number of vowels divided by its number of consonants "
    "(infinity for a word without consonants; the vocabulary has none).",
    vocab=vocabs.words(),
    max_seq_len=vocabs.DEFAULT_MAX_SEQ_LEN,
)
def vowel_ratio() -> rasp.SOp:
    return rasp.Map(vowel_consonant_ratio, rasp.tokens)
