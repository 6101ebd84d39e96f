"""InterpBench Tracr cases 100 to 131, rewritten as RASP programs.

Conventions shared by the programs below:

* Vocabularies are ranges of integers (or a grid of floats in [-1, 1)), matching
  InterpBench's choices for each task.
* `max_seq_len` excludes BOS. Unless a case says otherwise it is 9.
* Every selector used with a categorical `Aggregate` picks exactly one key per
  query, so the RASP evaluation never produces `None` on the sampled inputs.
* Cases whose InterpBench version balanced its data (half "true", half "false"
  answers) get a seeded generator doing the same; the rest draw every position
  uniformly from the vocabulary at full length.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from tracr.compiler import lib
from tracr.rasp import rasp

from circuits_benchmark.cases.registry import tracr_case

# --------------------------------------------------------------------------
# Vocabularies and small RASP helpers
# --------------------------------------------------------------------------

_INTS_0_10 = set(range(0, 11))
_INTS_0_29 = set(range(0, 30))
_INTS_1_10 = set(range(1, 11))
_INTS_M20_19 = set(range(-20, 20))
_INTS_M15_14 = set(range(-15, 15))
# Twenty evenly spaced floats -1.0, -0.9, ..., 0.9 (same construction as InterpBench).
_FLOATS_M1_1 = {-1 + k * 2 / 20 for k in range(20)}


def _const(value) -> rasp.SOp:
    """The same value at every position (a constant query for selectors)."""
    return rasp.Map(lambda _: value, rasp.indices)


def _pick(sop: rasp.SOp, position: rasp.SOp) -> rasp.SOp:
    """At each query position, the value of `sop` at the index held by `position`."""
    return rasp.Aggregate(rasp.Select(rasp.indices, position, rasp.Comparison.EQ), sop)


def _count_of(sop: rasp.SOp, value) -> rasp.SOp:
    """How many positions of `sop` hold `value` (broadcast to every position)."""
    return rasp.SelectorWidth(rasp.Select(sop, _const(value), rasp.Comparison.EQ))


def _index_from_length(f: Callable[[int, int], int], name: str,
                       length: rasp.SOp | None = None) -> rasp.SOp:
    """A per-position index computed from (position, sequence length).

    Pass `length` to share one length SOp between several indices of a program (Tracr
    identifies nodes by label, so two SOps both named "length" must not coexist).
    """
    length = lib.make_length() if length is None else length
    return rasp.SequenceMap(lambda i, n: f(i, n) if n > 0 else 0, rasp.indices, length).named(name)


# --------------------------------------------------------------------------
# Seeded input generators
# --------------------------------------------------------------------------

def _ints(values) -> list[int]:
    return [int(v) for v in values]


def _half_and_half(make_yes, make_no, length: int):
    """A generator whose first half of samples come from `make_yes`, the rest from `make_no`,
    returned in a random order."""

    def generate(rng: np.random.Generator, n: int) -> list[list]:
        n_yes = n // 2
        samples = [make_yes(rng, length) for _ in range(n_yes)]
        samples += [make_no(rng, length) for _ in range(n - n_yes)]
        order = rng.permutation(n)
        return [samples[i] for i in order]

    return generate


def _uniform(vocab):
    values = sorted(vocab)

    def draw(rng: np.random.Generator, length: int) -> list:
        return _ints(rng.choice(values, size=length))

    return draw


# 108: with / without a repeated value.
def _with_repeat(rng: np.random.Generator, length: int) -> list[int]:
    distinct = _ints(rng.choice(sorted(_INTS_0_10), size=length - 1, replace=False))
    seq = distinct + [distinct[int(rng.integers(len(distinct)))]]
    return _ints(rng.permutation(seq))


def _all_distinct(rng: np.random.Generator, length: int) -> list[int]:
    return _ints(rng.choice(sorted(_INTS_0_10), size=length, replace=False))


# 109: last two equal / different.
def _last_two_equal(rng: np.random.Generator, length: int) -> list[int]:
    head = _uniform(_INTS_0_10)(rng, length - 2)
    v = int(rng.integers(0, 11))
    return head + [v, v]


def _last_two_differ(rng: np.random.Generator, length: int) -> list[int]:
    head = _uniform(_INTS_0_10)(rng, length - 2)
    a, b = _ints(rng.choice(sorted(_INTS_0_10), size=2, replace=False))
    return head + [a, b]


# 124: constant sequence / distinct values (cycled when longer than the vocabulary).
def _constant_seq(rng: np.random.Generator, length: int) -> list[int]:
    return [int(rng.integers(0, 11))] * length


def _not_constant_seq(rng: np.random.Generator, length: int) -> list[int]:
    k = min(length, len(_INTS_0_10))
    distinct = _ints(rng.choice(sorted(_INTS_0_10), size=k, replace=False))
    return (distinct * (length // k + 1))[:length]


# 125: even/odd alternating (even first) / uniformly random.
def _even_odd_alternating(rng: np.random.Generator, length: int) -> list[int]:
    evens = [v for v in sorted(_INTS_0_10) if v % 2 == 0]
    odds = [v for v in sorted(_INTS_0_10) if v % 2 == 1]
    return [int(rng.choice(evens if i % 2 == 0 else odds)) for i in range(length)]


# 129: only even values / exactly one odd value (values otherwise distinct).
_EVENS_0_29 = [v for v in sorted(_INTS_0_29) if v % 2 == 0]
_ODDS_0_29 = [v for v in sorted(_INTS_0_29) if v % 2 == 1]


def _all_even(rng: np.random.Generator, length: int) -> list[int]:
    return _ints(rng.choice(_EVENS_0_29, size=length, replace=False))


def _one_odd(rng: np.random.Generator, length: int) -> list[int]:
    seq = _ints(rng.choice(_EVENS_0_29, size=length - 1, replace=False))
    seq.append(int(rng.choice(_ODDS_0_29)))
    return _ints(rng.permutation(seq))


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

@tracr_case("100", "Exchange the tokens at positions 0 and 1; every other token stays in place.",
            vocab=_INTS_0_10, max_seq_len=10, causal=False)
def swap_first_two() -> rasp.SOp:
    partner = rasp.Map(lambda i: {0: 1, 1: 0}.get(i, i), rasp.indices).named("partner")
    return _pick(rasp.tokens, partner).named("swapped")


def _is_perfect_square(x: int) -> int:
    return 1 if x >= 0 and math.isqrt(x) ** 2 == x else 0


@tracr_case("101", "Flag (1/0) whether each token is a perfect square.",
            vocab=_INTS_0_29, max_seq_len=9)
def perfect_square_flags() -> rasp.SOp:
    return rasp.Map(_is_perfect_square, rasp.tokens).named("is_square")


def _bounce_into(x: int, lo: int = 2, hi: int = 7) -> int:
    """Fold x into [lo, hi] like a ball bouncing between the two walls (a triangle wave)."""
    span = hi - lo
    phase = (x - lo) % (2 * span)
    return lo + phase if phase <= span else hi - (phase - span)


@tracr_case("102", "Reflect each token into the range [2, 7], bouncing off the bounds "
                   "as many times as needed.",
            vocab=_INTS_M20_19, max_seq_len=9)
def reflect_into_range() -> rasp.SOp:
    return rasp.Map(_bounce_into, rasp.tokens).named("reflected")


@tracr_case("103", "Swap the tokens of each adjacent pair (0,1), (2,3), ...; an unpaired "
                   "last token stays put.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def swap_adjacent_pairs() -> rasp.SOp:
    def source(i: int, n: int) -> int:
        if n % 2 == 1 and i == n - 1:
            return i
        return i + 1 if i % 2 == 0 else i - 1

    return _pick(rasp.tokens, _index_from_length(source, "pair_partner")).named("pair_swapped")


@tracr_case("104", "Replace each token x by e^x.",
            vocab=_INTS_0_10, max_seq_len=9)
def exponential() -> rasp.SOp:
    return rasp.Map(math.exp, rasp.tokens).named("exp")


def _smallest_prime_at_least(x: int) -> int:
    candidate = max(x, 2)
    while any(candidate % d == 0 for d in range(2, math.isqrt(candidate) + 1)):
        candidate += 1
    return candidate


@tracr_case("105", "Replace each token by the smallest prime that is >= it (primes map to "
                   "themselves).",
            vocab=_INTS_0_29, max_seq_len=9)
def next_prime() -> rasp.SOp:
    return rasp.Map(_smallest_prime_at_least, rasp.tokens).named("next_prime")


@tracr_case("106", "Keep the token at position 1 and write 0 at every other position.",
            vocab=_INTS_0_10, max_seq_len=9)
def keep_only_position_one() -> rasp.SOp:
    return rasp.SequenceMap(lambda tok, i: tok if i == 1 else 0,
                            rasp.tokens, rasp.indices).named("masked")


@tracr_case("107", "Wrap each token into [2, 7) modulo the range width: 2 + (x - 2) mod 5.",
            vocab=_INTS_M15_14, max_seq_len=9)
def wrap_into_range() -> rasp.SOp:
    return rasp.Map(lambda x: 2 + (x - 2) % 5, rasp.tokens).named("wrapped")


@tracr_case("108", "1 at every position if some value occurs at least twice in the input, "
                   "else 0.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False,
            generator=_half_and_half(_with_repeat, _all_distinct, 9))
def has_duplicate() -> rasp.SOp:
    """Half of the sampled inputs contain a repeated value, half are all distinct."""
    occurrences = lib.make_hist().named("occurrences")
    repeated = rasp.SelectorWidth(
        rasp.Select(occurrences, _const(2), rasp.Comparison.GEQ)).named("n_repeated_positions")
    return rasp.Map(lambda c: 1 if c > 0 else 0, repeated).named("has_duplicate")


@tracr_case("109", "1 at every position if the last two tokens are equal, else 0.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False,
            generator=_half_and_half(_last_two_equal, _last_two_differ, 9))
def last_two_equal() -> rasp.SOp:
    """Half of the sampled inputs end with two equal tokens, half with two different ones."""
    length = lib.make_length()
    last = _pick(rasp.tokens, _index_from_length(lambda i, n: n - 1, "last_index", length)).named("last")
    before_last = _pick(
        rasp.tokens, _index_from_length(lambda i, n: n - 2, "before_last_index", length)).named("before_last")
    return rasp.SequenceMap(lambda a, b: 1 if a == b else 0, last, before_last).named("last_two_equal")


@tracr_case("110", "Interleave zeros: position 2j gets token j and odd positions get 0 "
                   "(the second half of the input is dropped).",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def interleave_zeros() -> rasp.SOp:
    spread = rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q // 2),
                            rasp.tokens).named("spread")
    return rasp.SequenceMap(lambda tok, i: tok if i % 2 == 0 else 0,
                            spread, rasp.indices).named("with_zeros")


@tracr_case("111", "Write the last token at position 0 and 0 at every other position.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def last_token_first() -> rasp.SOp:
    last = _pick(rasp.tokens, _index_from_length(lambda i, n: n - 1, "last_index")).named("last")
    return rasp.SequenceMap(lambda tok, i: tok if i == 0 else 0,
                            last, rasp.indices).named("last_then_zeros")


def _next_or_self(i: int, n: int) -> int:
    return min(i + 1, n - 1)


@tracr_case("112", "Next token minus current token at each position (0 at the last position).",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def difference_to_next() -> rasp.SOp:
    nxt = _pick(rasp.tokens, _index_from_length(_next_or_self, "next_index")).named("next_token")
    return rasp.SequenceMap(lambda a, b: a - b, nxt, rasp.tokens).named("diff_to_next")


@tracr_case("113", "Reverse the sequence if it is sorted in non-decreasing order, otherwise "
                   "return it unchanged.",
            vocab=_INTS_0_29, max_seq_len=9, causal=False)
def reverse_if_sorted() -> rasp.SOp:
    prev = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == max(q - 1, 0)),
        rasp.tokens).named("prev_token")
    descent = rasp.SequenceMap(lambda p, t: 1 if p > t else 0, prev, rasp.tokens).named("descent")
    n_descents = _count_of(descent, 1).named("n_descents")
    length = lib.make_length()
    # Sequence length when the input is sorted, 0 otherwise: enough to choose the source index.
    mirror = rasp.SequenceMap(lambda n, d: n if d == 0 else 0, length, n_descents).named("mirror_len")
    source = rasp.SequenceMap(lambda i, m: m - 1 - i if m > 0 else i,
                              rasp.indices, mirror).named("source_index")
    return _pick(rasp.tokens, source).named("maybe_reversed")


@tracr_case("114", "Replace each token x by log10(x).",
            vocab=_INTS_1_10, max_seq_len=9)
def log10() -> rasp.SOp:
    return rasp.Map(math.log10, rasp.tokens).named("log10")


@tracr_case("115", "Product of each token with the next one (the last token is squared).",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def product_with_next() -> rasp.SOp:
    nxt = _pick(rasp.tokens, _index_from_length(_next_or_self, "next_index")).named("next_token")
    return rasp.SequenceMap(lambda a, b: a * b, rasp.tokens, nxt).named("product_with_next")


@tracr_case("116", "Flag (1/0) whether each token is a multiple of the first token "
                   "(always 0 when the first token is 0).",
            vocab=_INTS_0_10, max_seq_len=10, causal=False)
def multiple_of_first() -> rasp.SOp:
    first = _pick(rasp.tokens, _const(0)).named("first")
    return rasp.SequenceMap(lambda x, f: 1 if f != 0 and x % f == 0 else 0,
                            rasp.tokens, first).named("is_multiple")


@tracr_case("117", "Sum of the last two tokens, broadcast to every position.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def sum_of_last_two() -> rasp.SOp:
    length = lib.make_length()
    last = _pick(rasp.tokens, _index_from_length(lambda i, n: n - 1, "last_index", length)).named("last")
    before_last = _pick(
        rasp.tokens, _index_from_length(lambda i, n: n - 2, "before_last_index", length)).named("before_last")
    return rasp.SequenceMap(lambda a, b: a + b, last, before_last).named("sum_last_two")


@tracr_case("118", "Each token plus the previous token (the first token is kept as is).",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def sum_with_previous() -> rasp.SOp:
    prev = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == max(q - 1, 0)),
        rasp.tokens).named("prev_token")
    addend = rasp.SequenceMap(lambda p, i: p if i > 0 else 0, prev, rasp.indices).named("addend")
    return rasp.SequenceMap(lambda a, b: a + b, rasp.tokens, addend).named("pairwise_sum")


@tracr_case("119", "Evaluate the quadratic c1*x^2 + c2*x + c3 for the input [x, c1, c2, c3], "
                   "broadcast to every position.",
            vocab=set(range(0, 6)), max_seq_len=4, causal=False)
def quadratic_polynomial() -> rasp.SOp:
    """Horner's scheme: ((c1 * x) + c2) * x + c3.

    Each entry is broadcast by a head whose query is the token (ignored by the predicate).
    With a constant query every attention head would be narrower than the token space and
    Tracr's assembler (which sizes heads by their query/key spaces only) fails to compile.
    """

    def entry(position: int) -> rasp.SOp:
        at_position = rasp.Select(rasp.indices, rasp.tokens, lambda k, q: k == position)
        return rasp.Aggregate(at_position, rasp.tokens)

    x = entry(0).named("x")
    acc = entry(1).named("coef_1")
    for k in (2, 3):
        coef = entry(k).named(f"coef_{k}")
        scaled = rasp.SequenceMap(lambda a, b: a * b, acc, x).named(f"horner_mul_{k}")
        acc = rasp.SequenceMap(lambda a, b: a + b, scaled, coef).named(f"horner_add_{k}")
    return acc.named("polynomial")


def _halves_source(i: int, n: int) -> int:
    """Index read by position i when the two halves swap places (middle token of an odd
    length stays in the middle)."""
    half = n // 2
    if n % 2 == 0:
        return (i + half) % n
    if i < half:
        return i + half + 1
    return i if i == half else i - half - 1


@tracr_case("120", "Swap the first and second halves of the sequence (for odd lengths the "
                   "middle token stays in the middle).",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def swap_halves() -> rasp.SOp:
    return _pick(rasp.tokens, _index_from_length(_halves_source, "halves_source")).named("halves_swapped")


@tracr_case("121", "Replace each token x by arcsin(x).",
            vocab=_FLOATS_M1_1, max_seq_len=9)
def arcsine() -> rasp.SOp:
    return rasp.Map(math.asin, rasp.tokens).named("arcsin")


@tracr_case("122", "Flag (1/0) whether each token is divisible by 3.",
            vocab=_INTS_0_29, max_seq_len=9)
def divisible_by_three() -> rasp.SOp:
    return rasp.Map(lambda x: 1 if x % 3 == 0 else 0, rasp.tokens).named("divisible_by_3")


@tracr_case("123", "Replace each token x by arccos(x).",
            vocab=_FLOATS_M1_1, max_seq_len=9)
def arccosine() -> rasp.SOp:
    return rasp.Map(math.acos, rasp.tokens).named("arccos")


@tracr_case("124", "1 at every position if all tokens are equal, else 0.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False,
            generator=_half_and_half(_constant_seq, _not_constant_seq, 9))
def all_equal() -> rasp.SOp:
    """Half of the sampled inputs repeat one value, half use distinct values."""
    n_different = rasp.SelectorWidth(
        rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.NEQ)).named("n_different")
    # Positions equal to every other position exist only when the sequence is constant.
    n_agreeing = _count_of(n_different, 0).named("n_agreeing")
    return rasp.Map(lambda c: 1 if c > 0 else 0, n_agreeing).named("all_equal")


@tracr_case("125", "1 at every position if consecutive tokens always differ in parity "
                   "(even/odd alternate), else 0.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False,
            generator=_half_and_half(_even_odd_alternating, _uniform(_INTS_0_10), 9))
def parity_alternates() -> rasp.SOp:
    """Half of the sampled inputs alternate even/odd (starting even), half are uniform."""
    # Neighbour = previous token, except position 0 looks at position 1.
    neighbour = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == (q - 1 if q > 0 else 1)),
        rasp.tokens).named("neighbour")
    same_parity = rasp.SequenceMap(lambda a, b: 1 if a % 2 == b % 2 else 0,
                                   neighbour, rasp.tokens).named("same_parity")
    n_breaks = _count_of(same_parity, 1).named("n_breaks")
    return rasp.Map(lambda c: 1 if c == 0 else 0, n_breaks).named("alternates")


@tracr_case("126", "Median of all tokens (mean of the two middle values for even lengths), "
                   "broadcast to every position.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def median() -> rasp.SOp:
    ordered = lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=9, min_key=1).named("sorted")
    length = lib.make_length()
    low = _pick(ordered, _index_from_length(lambda i, n: (n - 1) // 2, "low_mid_index", length)).named("low_mid")
    high = _pick(ordered, _index_from_length(lambda i, n: n // 2, "high_mid_index", length)).named("high_mid")
    return rasp.SequenceMap(lambda a, b: (a + b) / 2, low, high).named("median")


@tracr_case("127", "Divide each token by (second token / first token); the divisor is 1 when "
                   "either of the first two tokens is 0.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def divide_by_ratio_of_first_two() -> rasp.SOp:
    first = _pick(rasp.tokens, _const(0)).named("first")
    # The second token, or the first one again for a length-1 input.
    second = _pick(rasp.tokens, _index_from_length(lambda i, n: 1 if n > 1 else 0,
                                                    "second_index")).named("second")
    divisor = rasp.SequenceMap(lambda f, s: s / f if f != 0 and s != 0 else 1,
                               first, second).named("divisor")
    return rasp.SequenceMap(lambda x, d: x / d, rasp.tokens, divisor).named("divided")


@tracr_case("128", "Exchange the first and the last token; the others stay in place.",
            vocab=_INTS_0_10, max_seq_len=9, causal=False)
def swap_first_and_last() -> rasp.SOp:
    def partner(i: int, n: int) -> int:
        if i == 0:
            return n - 1
        return 0 if i == n - 1 else i

    return _pick(rasp.tokens, _index_from_length(partner, "partner")).named("ends_swapped")


@tracr_case("129", "1 at every position if every token is even (a multiple of 2), else 0.",
            vocab=_INTS_0_29, max_seq_len=9, causal=False,
            generator=_half_and_half(_all_even, _one_odd, 9))
def all_even() -> rasp.SOp:
    """Half of the sampled inputs are all even, half contain exactly one odd token."""
    is_even = rasp.Map(lambda x: 1 if x % 2 == 0 else 0, rasp.tokens).named("is_even")
    n_odd = _count_of(is_even, 0).named("n_odd")
    return rasp.Map(lambda c: 1 if c == 0 else 0, n_odd).named("all_even")


@tracr_case("130", "Clip each token to the range [2, 7].",
            vocab=_INTS_M15_14, max_seq_len=9)
def clip_to_range() -> rasp.SOp:
    return rasp.Map(lambda x: min(max(x, 2), 7), rasp.tokens).named("clipped")


@tracr_case("131", "Maximum of each token and the previous one (the first token is kept).",
            vocab=_INTS_0_10, max_seq_len=9)
def max_with_previous() -> rasp.SOp:
    prev = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == max(q - 1, 0)),
        rasp.tokens).named("prev_token")
    return rasp.SequenceMap(max, rasp.tokens, prev).named("pairwise_max")
