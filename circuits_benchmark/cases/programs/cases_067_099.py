"""InterpBench Tracr cases 67 to 99, rewritten as RASP programs.

Most of these are element-wise arithmetic maps over the small integer vocabulary
{0, ..., 10}; the rest mix in sequence-level information (length, maximum,
median, neighbours) through attention.  Every output is categorical, as in the
reference benchmark.  Sequence lengths here exclude BOS (InterpBench's default
of 10 with BOS becomes 9).
"""

from __future__ import annotations

import math

import numpy as np
from tracr.compiler import lib
from tracr.rasp import rasp

from circuits_benchmark.cases.registry import tracr_case

# Integers 0..10, InterpBench's default integer vocabulary.
_INTS = frozenset(range(11))
_DEFAULT_LEN = 9


# ---------------------------------------------------------------------------
# Small shared building blocks
# ---------------------------------------------------------------------------


def _length() -> rasp.SOp:
    """Sequence length broadcast to every position (needs non-causal attention)."""
    return lib.make_length().named("length")


def _read_from(source_pos: rasp.SOp, values: rasp.SOp, name: str) -> rasp.SOp:
    """At each position i, the entry of `values` found at position `source_pos[i]`."""
    pick = rasp.Select(rasp.indices, source_pos, rasp.Comparison.EQ).named(f"{name}_select")
    return rasp.Aggregate(pick, values).named(name)


def _previous_token() -> rasp.SOp:
    """tokens[i-1] at position i, and tokens[0] itself at position 0."""
    prev = rasp.Select(
        rasp.indices, rasp.indices, lambda k, q: k == max(q - 1, 0)
    ).named("prev_select")
    return rasp.Aggregate(prev, rasp.tokens).named("prev_token")


def _elementwise(fn, name: str) -> rasp.SOp:
    return rasp.Map(fn, rasp.tokens).named(name)


# ---------------------------------------------------------------------------
# Element-wise maps
# ---------------------------------------------------------------------------


@tracr_case("68", "Round every element up to the nearest multiple of 3 (multiples stay put).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def round_up_to_multiple_of_three() -> rasp.SOp:
    return _elementwise(lambda x: x + (-x) % 3, "round_up_mult3")


@tracr_case("69", "Replace every element by its sign: -1, 0 or 1.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def sign_of_each() -> rasp.SOp:
    return _elementwise(lambda x: (x > 0) - (x < 0), "sign")


@tracr_case("70", "Replace every element x by cos(x) (x in radians).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def cosine_of_each() -> rasp.SOp:
    return _elementwise(math.cos, "cosine")


@tracr_case("72", "Replace every element x by -x.",
            vocab=frozenset(range(-10, 10)), max_seq_len=_DEFAULT_LEN)
def negate_each() -> rasp.SOp:
    return _elementwise(lambda x: -x, "negated")


@tracr_case("73", "Replace every element x by sin(x) (x in radians).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def sine_of_each() -> rasp.SOp:
    return _elementwise(math.sin, "sine")


@tracr_case("75", "Replace every element x by 2x.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def double_each() -> rasp.SOp:
    return _elementwise(lambda x: 2 * x, "doubled")


@tracr_case("76", "Overwrite the elements at even positions (0, 2, 4, ...) with 0; odd positions keep theirs.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def zero_even_positions() -> rasp.SOp:
    is_odd = rasp.Map(lambda i: i % 2 == 1, rasp.indices).named("is_odd_pos")
    return rasp.SequenceMap(lambda x, odd: x if odd else 0, rasp.tokens, is_odd).named(
        "zeroed_even")


@tracr_case("77", "Replace every element x by tan(x) (x in radians).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def tangent_of_each() -> rasp.SOp:
    return _elementwise(math.tan, "tangent")


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


@tracr_case("79", "Mark each element with 1 if it is a prime number, else 0.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def prime_flags() -> rasp.SOp:
    return _elementwise(lambda x: int(_is_prime(x)), "is_prime")


@tracr_case("80", "Subtract the constant 2 from every element.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def minus_two() -> rasp.SOp:
    return _elementwise(lambda x: x - 2, "minus_2")


@tracr_case("83", "Replace every element x by 3x.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def triple_each() -> rasp.SOp:
    return _elementwise(lambda x: 3 * x, "tripled")


@tracr_case("84", "Replace every element x by arctan(x).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def arctangent_of_each() -> rasp.SOp:
    return _elementwise(math.atan, "arctangent")


@tracr_case("85", "Replace every element x by x squared.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def square_each() -> rasp.SOp:
    return _elementwise(lambda x: x * x, "squared")


def _positive_power_of_two(x: int) -> bool:
    # 2, 4, 8, ...; like the reference task, 1 (= 2**0) does not count.
    return x >= 2 and x & (x - 1) == 0


@tracr_case("86", "Mark each element with 1 if it is a power of 2 (2, 4, 8, ...; 1 is not counted), else 0.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def power_of_two_flags() -> rasp.SOp:
    return _elementwise(lambda x: int(_positive_power_of_two(x)), "is_pow2")


@tracr_case("87", "Binarize with threshold 3: 1 where the element is >= 3, 0 elsewhere.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def binarize_at_three() -> rasp.SOp:
    at_least = rasp.Map(lambda x: x >= 3, rasp.tokens).named("at_least_3")
    return rasp.Map(int, at_least).named("binarized")


@tracr_case("90", "Identity: output every element unchanged (a deliberately trivial task).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def identity() -> rasp.SOp:
    return _elementwise(lambda x: x, "identity")


@tracr_case("91", "Set every element below the threshold 3 to 0; others keep their value.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def zero_below_three() -> rasp.SOp:
    return _elementwise(lambda x: x if x >= 3 else 0, "thresholded")


def _distinct_prime_factors(n: int) -> int:
    return sum(1 for p in range(2, n + 1) if n % p == 0 and _is_prime(p))


@tracr_case("95", "Replace every element by its number of distinct prime factors (0 for 0 and 1).",
            vocab=frozenset(range(30)), max_seq_len=_DEFAULT_LEN)
def count_distinct_prime_factors() -> rasp.SOp:
    return _elementwise(_distinct_prime_factors, "n_prime_factors")


# ---------------------------------------------------------------------------
# Cases that use the sequence length
# ---------------------------------------------------------------------------


@tracr_case("67", "Multiply every element by the length of the sequence.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def times_length() -> rasp.SOp:
    return rasp.SequenceMap(lambda x, n: x * n, rasp.tokens, _length()).named("times_length")


@tracr_case("71", "Divide every element by the length of the sequence.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def over_length() -> rasp.SOp:
    return rasp.SequenceMap(lambda x, n: x / n if n else 0, rasp.tokens, _length()).named(
        "over_length")


def _mirrored_odd_position(i: int, n: int) -> int:
    """Even i maps to itself; odd positions are mirrored among the odd positions < n."""
    if i % 2 == 0:
        return i
    last_odd = n - 1 if (n - 1) % 2 == 1 else n - 2
    return last_odd + 1 - i


@tracr_case("74", "Keep the elements at even positions in place and put the elements at odd "
                  "positions in reverse order (interleaving the sequence with its reverse).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def reverse_odd_positions() -> rasp.SOp:
    """E.g. [a, b, c, d, e, f] -> [a, f, c, d, e, b]."""
    source = rasp.SequenceMap(_mirrored_odd_position, rasp.indices, _length()).named("source_pos")
    return _read_from(source, rasp.tokens, "odd_reversed")


@tracr_case("82", "Halve the elements of the second half of the sequence (positions >= length // 2).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def halve_second_half() -> rasp.SOp:
    in_back_half = rasp.SequenceMap(lambda i, n: i >= n // 2, rasp.indices, _length()).named(
        "in_second_half")
    return rasp.SequenceMap(lambda x, back: x / 2 if back else x, rasp.tokens, in_back_half).named(
        "halved")


@tracr_case("88", "Broadcast the average of the first and the last element of the sequence.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def mean_of_ends() -> rasp.SOp:
    zero = rasp.Map(lambda _: 0, rasp.indices).named("zero_pos")
    last = rasp.Map(lambda n: n - 1, _length()).named("last_pos")
    first_tok = _read_from(zero, rasp.tokens, "first_token")
    last_tok = _read_from(last, rasp.tokens, "last_token")
    return rasp.SequenceMap(lambda a, b: (a + b) / 2, first_tok, last_tok).named("mean_of_ends")


def _partner_position(i: int, n: int) -> int:
    """Pairs positions (1, 2), (3, 4), ...; position 0 and an unpaired last one stay put."""
    if i == 0:
        return 0
    partner = i + 1 if i % 2 == 1 else i - 1
    return partner if partner < n else i


@tracr_case("93", "Swap the element at every odd position n with the one at n+1 "
                  "(the first element, and a last element without partner, stay put).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def swap_odd_pairs() -> rasp.SOp:
    """E.g. [a, b, c, d, e, f] -> [a, c, b, e, d, f]."""
    source = rasp.SequenceMap(_partner_position, rasp.indices, _length()).named("partner_pos")
    return _read_from(source, rasp.tokens, "swapped")


@tracr_case("99", "Add to every element the element right after it; the last element, having "
                  "no successor, is added to itself (as in InterpBench).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def plus_next() -> rasp.SOp:
    source = rasp.SequenceMap(lambda i, n: min(i + 1, n - 1), rasp.indices, _length()).named(
        "next_pos")
    following = _read_from(source, rasp.tokens, "next_token")
    return rasp.SequenceMap(lambda x, y: x + y, rasp.tokens, following).named("plus_next")


# ---------------------------------------------------------------------------
# Counting, ordering and comparisons between positions
# ---------------------------------------------------------------------------


@tracr_case("78", "Replace every element by the number of times it occurs in the whole sequence.",
            vocab=frozenset("abcdefghij"), max_seq_len=_DEFAULT_LEN, causal=False)
def occurrence_counts() -> rasp.SOp:
    same = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("same_token")
    return rasp.SelectorWidth(same).named("occurrences")


@tracr_case("81", "Broadcast the median of the sequence (mean of the two middle values when "
                  "the length is even).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def median() -> rasp.SOp:
    ordered = lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=_DEFAULT_LEN + 1, min_key=1)
    ordered = ordered.named("sorted")
    n = _length()
    lower_mid = rasp.Map(lambda k: (k - 1) // 2, n).named("lower_mid_pos")
    upper_mid = rasp.Map(lambda k: k // 2, n).named("upper_mid_pos")
    low = _read_from(lower_mid, ordered, "lower_mid")
    high = _read_from(upper_mid, ordered, "upper_mid")
    return rasp.SequenceMap(lambda a, b: (a + b) / 2, low, high).named("median")


@tracr_case("92", "Set an element to 0 when it is smaller than the element just before it.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN)
def zero_if_drop() -> rasp.SOp:
    return rasp.SequenceMap(lambda x, prev: 0 if x < prev else x, rasp.tokens,
                            _previous_token()).named("zero_if_drop")


def _monotone_check(ok_step, name: str) -> rasp.SOp:
    """1 at every position iff `ok_step(prev, cur)` holds for all adjacent pairs, else 0."""
    step_ok = rasp.SequenceMap(lambda prev, cur: int(ok_step(prev, cur)), _previous_token(),
                               rasp.tokens).named("step_ok")
    bad_step = rasp.Select(step_ok, rasp.tokens, lambda k, q: k == 0).named("bad_step")
    n_bad = rasp.SelectorWidth(bad_step).named("n_bad_steps")
    return rasp.Map(lambda c: int(c == 0), n_bad).named(name)


def _half_monotone_generator(max_len: int, descending: bool):
    """Half the inputs strictly monotone (distinct sorted vocabulary draws), half uniform."""
    values = sorted(_INTS)

    def generate(rng: np.random.Generator, n: int) -> list[list[int]]:
        n_sorted = n // 2
        out = []
        for _ in range(n_sorted):
            picked = sorted(rng.choice(values, size=max_len, replace=False).tolist(),
                            reverse=descending)
            out.append([int(v) for v in picked])
        for _ in range(n - n_sorted):
            out.append([int(v) for v in rng.choice(values, size=max_len)])
        order = rng.permutation(n)
        return [out[i] for i in order]

    return generate


@tracr_case("89", "Output 1 everywhere if the sequence is non-decreasing, else 0 everywhere.",
            vocab=_INTS, max_seq_len=10, causal=False,
            generator=_half_monotone_generator(10, descending=False))
def is_increasing() -> rasp.SOp:
    return _monotone_check(lambda prev, cur: prev <= cur, "is_increasing")


@tracr_case("94", "Output 1 everywhere if the sequence is non-increasing, else 0 everywhere.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False,
            generator=_half_monotone_generator(_DEFAULT_LEN, descending=True))
def is_descending() -> rasp.SOp:
    return _monotone_check(lambda prev, cur: prev >= cur, "is_descending")


@tracr_case("96", "Set repeated elements to 0, keeping the first occurrence of each value.",
            vocab=frozenset(range(1, 11)), max_seq_len=_DEFAULT_LEN, causal=False)
def zero_repeats() -> rasp.SOp:
    tagged = rasp.SequenceMap(lambda x, i: (x, i), rasp.tokens, rasp.indices).named("token_pos")
    earlier_same = rasp.Select(tagged, tagged, lambda k, q: k[0] == q[0] and k[1] < q[1]).named(
        "earlier_same")
    n_earlier = rasp.SelectorWidth(earlier_same).named("n_earlier_same")
    return rasp.SequenceMap(lambda x, c: x if c == 0 else 0, rasp.tokens, n_earlier).named(
        "zero_repeats")


def _max_broadcast() -> rasp.SOp:
    """The maximum token at every position, read from its first occurrence."""
    tagged = rasp.SequenceMap(lambda x, i: (x, i), rasp.tokens, rasp.indices).named("token_pos")
    # key beats query if it is larger, or equal and earlier: exactly one position is unbeaten.
    beats = rasp.Select(tagged, tagged,
                        lambda k, q: k[0] > q[0] or (k[0] == q[0] and k[1] < q[1])).named("beats")
    n_beaten_by = rasp.SelectorWidth(beats).named("n_beaten_by")
    champion = rasp.Select(n_beaten_by, rasp.tokens, lambda k, q: k == 0).named("champion")
    return rasp.Aggregate(champion, rasp.tokens).named("max_token")


@tracr_case("97", "Divide every element by the maximum of the sequence (0 when the maximum is 0).",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def scale_by_max() -> rasp.SOp:
    return rasp.SequenceMap(lambda x, m: x / m if m > 0 else 0, rasp.tokens,
                            _max_broadcast()).named("scaled_by_max")


@tracr_case("98", "Broadcast the maximum element of the sequence to every position.",
            vocab=_INTS, max_seq_len=_DEFAULT_LEN, causal=False)
def max_everywhere() -> rasp.SOp:
    return _max_broadcast()
