"""InterpBench Tracr cases 34 to 66, rewritten as RASP programs.

Most of these tasks are element-wise maps over small integer, letter or word
vocabularies; a few mix information across positions (first/second element,
mirroring, sorting, ranking, counting). Outputs are categorical unless stated.
"""

from __future__ import annotations

import math

from tracr.compiler import lib
from tracr.rasp import rasp

from circuits_benchmark.cases.registry import tracr_case

# ---------------------------------------------------------------------------
# Vocabularies shared by several cases.

# InterpBench's seeded "random words" vocabulary (Python `random` seeded with 42,
# 5-20 words of 1-8 ASCII letters); the draw yields exactly these eight words.
WORDS = frozenset({"J", "LB", "TPSI", "V", "b", "no", "oCLrZaW", "poiVg"})

# Integers 0..10.
INTS_0_10 = frozenset(range(11))

# The first ten lowercase letters, "a".."j".
LETTERS_10 = frozenset("abcdefghij")

# Quarter steps 0.0, 0.25, ..., 4.75 (twenty values).
QUARTERS = frozenset(k * 0.25 for k in range(20))

_VOWELS = frozenset("aeiou")
_FIBONACCI = (0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987,
              1597, 2584, 4181, 6765)


# ---------------------------------------------------------------------------
# Word-level maps (cases 34-37).

def _vowels_per_consonant(word: str) -> float:
    n_vowels = sum(1 for ch in word.lower() if ch in _VOWELS)
    n_consonants = len(word) - n_vowels
    if n_consonants == 0:
        return float("inf")
    return n_vowels / n_consonants


@tracr_case("34", "For each word, the number of its vowels divided by the number of its "
                  "consonants (infinity for a word made only of vowels).",
            vocab=WORDS, max_seq_len=9)
def vowel_consonant_ratio() -> rasp.SOp:
    """Vowels are a, e, i, o, u in either case; every other character counts as a consonant."""
    return rasp.Map(_vowels_per_consonant, rasp.tokens).named("vowel_ratio")


def _zigzag_case(word: str) -> str:
    return "".join(ch.lower() if pos % 2 else ch.upper() for pos, ch in enumerate(word))


@tracr_case("35", "Rewrite every word with alternating letter case: upper case at even "
                  "character positions, lower case at odd ones.",
            vocab=WORDS, max_seq_len=9)
def alternate_letter_case() -> rasp.SOp:
    return rasp.Map(_zigzag_case, rasp.tokens).named("zigzag_case")


_EMOJI_MOOD = {"😊": "positive", "😢": "negative", "📘": "neutral"}


@tracr_case("36", "Label each emoji token with its sentiment: positive, negative or neutral.",
            vocab=set(_EMOJI_MOOD), max_seq_len=9)
def emoji_sentiment() -> rasp.SOp:
    """Unknown symbols would be labelled neutral."""
    return rasp.Map(lambda emoji: _EMOJI_MOOD.get(emoji, "neutral"), rasp.tokens).named("mood")


_KEEP_AS_IS = "nochange"


@tracr_case("37", "Spell every word backwards, except the protected word 'nochange', which "
                  "is copied unchanged.",
            vocab=WORDS, max_seq_len=9)
def reverse_words_except_protected() -> rasp.SOp:
    return rasp.Map(lambda w: w if w == _KEEP_AS_IS else w[::-1], rasp.tokens).named("reversed_word")


# ---------------------------------------------------------------------------
# Neighbourhood / prefix statistics (cases 38-39).

@tracr_case("38", "True at a position when its token differs from both neighbouring tokens "
                  "(a missing neighbour at either end of the sequence does not break the "
                  "alternation).",
            vocab=set("abc"), max_seq_len=9, causal=False)
def alternation_check() -> rasp.SOp:
    """Each position counts how many of its immediate neighbours carry the same token.

    Tokens and positions are packed into one value so that a single selector can
    match "the key sits right before (or after) the query AND holds the same token";
    its width is 0 or 1, so the ends of the sequence need no special padding value.
    The next-neighbour test looks to the right, hence non-causal attention.
    """
    tok_at = rasp.SequenceMap(lambda tok, pos: (tok, pos), rasp.tokens, rasp.indices).named("tok_at")
    left_twin = rasp.Select(tok_at, tok_at, lambda k, q: k[1] + 1 == q[1] and k[0] == q[0])
    right_twin = rasp.Select(tok_at, tok_at, lambda k, q: k[1] == q[1] + 1 and k[0] == q[0])
    repeats_left = rasp.SelectorWidth(left_twin.named("left_twin")).named("repeats_left")
    repeats_right = rasp.SelectorWidth(right_twin.named("right_twin")).named("repeats_right")
    return rasp.SequenceMap(lambda a, b: a == 0 and b == 0,
                            repeats_left, repeats_right).named("alternates")


@tracr_case("39", "Running fraction of 'x' tokens: at position i, the share of 'x' among the "
                  "first i+1 tokens (numerical output; long sequences, full alphabet).",
            vocab=set("abcdefghijklmnopqrstuvwxyz"), max_seq_len=59)
def running_fraction_of_x_long() -> rasp.SOp:
    """A larger variant of case 3: 26 letters and up to 59 tokens."""
    is_x = rasp.numerical(rasp.Map(lambda t: 1 if t == "x" else 0, rasp.tokens)).named("is_x")
    return lib.make_frac_prevs(is_x).named("frac_x")


# ---------------------------------------------------------------------------
# Integer maps and simple positional rules (cases 40-66).

@tracr_case("40", "Digit sum of each number (tens digit plus units digit) for numbers 0..28.",
            vocab=range(29), max_seq_len=9)
def digit_sum() -> rasp.SOp:
    tens = rasp.Map(lambda n: n // 10, rasp.tokens).named("tens")
    units = rasp.Map(lambda n: n % 10, rasp.tokens).named("units")
    return rasp.SequenceMap(lambda a, b: a + b, tens, units).named("digit_sum")


@tracr_case("41", "Absolute value of each integer in -10..9.",
            vocab=range(-10, 10), max_seq_len=9)
def absolute_value() -> rasp.SOp:
    return rasp.Map(abs, rasp.tokens).named("abs")


@tracr_case("42", "Broadcast the first token of the sequence to every position.",
            vocab=LETTERS_10, max_seq_len=9)
def broadcast_first() -> rasp.SOp:
    at_start = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == 0).named("at_start")
    return rasp.Aggregate(at_start, rasp.tokens).named("first_token")


@tracr_case("43", "Replace each number n (0..19) by the n-th Fibonacci number, with F(0)=0, F(1)=1.",
            vocab=range(20), max_seq_len=9)
def fibonacci_of_token() -> rasp.SOp:
    return rasp.Map(lambda n: _FIBONACCI[n], rasp.tokens).named("fibonacci")


@tracr_case("44", "For each element, how many elements of the whole sequence are strictly greater.",
            vocab=INTS_0_10, max_seq_len=9, causal=False)
def count_larger() -> rasp.SOp:
    larger = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.GT).named("larger")
    return rasp.SelectorWidth(larger).named("n_larger")


@tracr_case("45", "Double the elements in the first half of the sequence (positions below "
                  "length/2); keep the rest unchanged.",
            vocab=INTS_0_10, max_seq_len=9, causal=False)
def double_first_half() -> rasp.SOp:
    n = lib.make_length()
    in_front = rasp.SequenceMap(lambda pos, size: pos < size / 2, rasp.indices, n).named("in_front")
    return rasp.SequenceMap(lambda x, front: 2 * x if front else x,
                            rasp.tokens, in_front).named("doubled_front")


@tracr_case("46", "Subtract one from each element.", vocab=INTS_0_10, max_seq_len=9)
def minus_one() -> rasp.SOp:
    return rasp.Map(lambda x: x - 1, rasp.tokens).named("minus_one")


@tracr_case("47", "Replace each token by the number of times it occurs in the whole sequence.",
            vocab=LETTERS_10, max_seq_len=9, causal=False)
def occurrence_count() -> rasp.SOp:
    same_token = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("same_token")
    return rasp.SelectorWidth(same_token).named("occurrences")


@tracr_case("48", "Add its position index to each element.", vocab=INTS_0_10, max_seq_len=9)
def plus_position() -> rasp.SOp:
    return rasp.SequenceMap(lambda x, pos: x + pos, rasp.tokens, rasp.indices).named("plus_position")


@tracr_case("49", "Round each element down to the nearest multiple of three.",
            vocab=INTS_0_10, max_seq_len=9)
def floor_to_multiple_of_three() -> rasp.SOp:
    return rasp.Map(lambda x: 3 * (x // 3), rasp.tokens).named("floor3")


@tracr_case("50", "Hyperbolic cosine of each element.", vocab=INTS_0_10, max_seq_len=9)
def hyperbolic_cosine() -> rasp.SOp:
    return rasp.Map(math.cosh, rasp.tokens).named("cosh")


@tracr_case("51", "1 if the element (0..99) is a Fibonacci number, else 0.",
            vocab=range(100), max_seq_len=9)
def is_fibonacci() -> rasp.SOp:
    fib_set = frozenset(_FIBONACCI)
    return rasp.Map(lambda x: int(x in fib_set), rasp.tokens).named("is_fibonacci")


@tracr_case("52", "Square root of each element.", vocab=INTS_0_10, max_seq_len=9)
def square_root() -> rasp.SOp:
    return rasp.Map(math.sqrt, rasp.tokens).named("sqrt")


@tracr_case("53", "Add one to the elements at odd positions; leave even positions unchanged.",
            vocab=INTS_0_10, max_seq_len=9)
def bump_odd_positions() -> rasp.SOp:
    parity = rasp.Map(lambda pos: pos % 2, rasp.indices).named("parity")
    return rasp.SequenceMap(lambda x, odd: x + odd, rasp.tokens, parity).named("bumped")


@tracr_case("54", "Hyperbolic tangent of each element.", vocab=INTS_0_10, max_seq_len=9)
def hyperbolic_tangent() -> rasp.SOp:
    return rasp.Map(math.tanh, rasp.tokens).named("tanh")


@tracr_case("55", "Hyperbolic sine of each element.", vocab=INTS_0_10, max_seq_len=9)
def hyperbolic_sine() -> rasp.SOp:
    return rasp.Map(math.sinh, rasp.tokens).named("sinh")


@tracr_case("56", "Set every third element (1-based positions 3, 6, 9, ...) to zero; keep the others.",
            vocab=INTS_0_10, max_seq_len=9)
def zero_every_third() -> rasp.SOp:
    third = rasp.Map(lambda pos: pos % 3 == 2, rasp.indices).named("is_third")
    return rasp.SequenceMap(lambda x, hit: 0 if hit else x, rasp.tokens, third).named("zeroed")


@tracr_case("57", "Broadcast the second token of the sequence to every position.",
            vocab=LETTERS_10, max_seq_len=9, causal=False)
def broadcast_second() -> rasp.SOp:
    """Needs at least two tokens (a one-token input has no second element: output None)."""
    at_second = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == 1).named("at_second")
    return rasp.Aggregate(at_second, rasp.tokens).named("second_token")


@tracr_case("58", "Keep the first half of the sequence and overwrite the second half with the "
                  "first half in reverse order, making the sequence a palindrome.",
            vocab=INTS_0_10, max_seq_len=9, causal=False)
def mirror_front_half() -> rasp.SOp:
    """Position i reads from position n-1-i when i >= n//2 (n = length), else from itself."""
    n = lib.make_length()
    source = rasp.SequenceMap(lambda pos, size: size - 1 - pos if pos >= size // 2 else pos,
                              rasp.indices, n).named("source")
    read_source = rasp.Select(rasp.indices, source, rasp.Comparison.EQ).named("read_source")
    return rasp.Aggregate(read_source, rasp.tokens).named("mirrored")


@tracr_case("59", "Sort the sequence in ascending order (equal elements keep their input order).",
            vocab=INTS_0_10, max_seq_len=9, causal=False)
def sort_ascending() -> rasp.SOp:
    """Ties are broken by position: key = value + pos/max_seq_len stays strictly increasing."""
    tie_broken = rasp.SequenceMap(lambda x, pos: x + pos / 9, rasp.tokens, rasp.indices).named("tie_broken")
    return lib.make_sort_unique(rasp.tokens, tie_broken).named("sorted")


@tracr_case("60", "Add one to each element.", vocab=INTS_0_10, max_seq_len=9)
def plus_one() -> rasp.SOp:
    return rasp.Map(lambda x: x + 1, rasp.tokens).named("plus_one")


@tracr_case("61", "Rank of each element: one plus the number of elements strictly smaller "
                  "(equal elements share a rank).",
            vocab=INTS_0_10, max_seq_len=9, causal=False)
def rank_by_size() -> rasp.SOp:
    smaller = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT).named("smaller")
    n_smaller = rasp.SelectorWidth(smaller).named("n_smaller")
    return rasp.Map(lambda c: c + 1, n_smaller).named("rank")


@tracr_case("62", "Factorial of each element.", vocab=INTS_0_10, max_seq_len=9)
def factorial() -> rasp.SOp:
    return rasp.Map(math.factorial, rasp.tokens).named("factorial")


@tracr_case("63", "For each element, how many elements of the whole sequence are strictly smaller.",
            vocab=INTS_0_10, max_seq_len=9, causal=False)
def count_smaller() -> rasp.SOp:
    smaller = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT).named("smaller")
    return rasp.SelectorWidth(smaller).named("n_smaller")


@tracr_case("64", "Cube of each element.", vocab=INTS_0_10, max_seq_len=9)
def cube() -> rasp.SOp:
    return rasp.Map(lambda x: x * x * x, rasp.tokens).named("cube")


def _real_cube_root(x: float) -> float:
    return -((-x) ** (1 / 3)) if x < 0 else x ** (1 / 3)


@tracr_case("65", "Real cube root of each element.", vocab=INTS_0_10, max_seq_len=9)
def cube_root() -> rasp.SOp:
    return rasp.Map(_real_cube_root, rasp.tokens).named("cube_root")


@tracr_case("66", "Round each number (quarter steps from 0 to 4.75) to the nearest integer, "
                  "halves rounding up.",
            vocab=QUARTERS, max_seq_len=9)
def round_half_up() -> rasp.SOp:
    return rasp.Map(lambda x: int(math.floor(x + 0.5)), rasp.tokens).named("rounded")
