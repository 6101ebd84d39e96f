"""InterpBench Tracr cases 1 to 33, rewritten as RASP programs.

Each builder returns a fresh RASP program. Vocabularies, sequence lengths
(without BOS), causal flags and custom input samplers follow InterpBench; the
programs themselves are written from the task descriptions.
"""

from __future__ import annotations

import string

import numpy as np
from tracr.compiler import lib
from tracr.rasp import rasp

from circuits_benchmark.cases.registry import tracr_case

# ---------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------


def _letters(count: int) -> set[str]:
    """The first `count` lowercase ASCII letters."""
    return set(string.ascii_lowercase[:count])


def _digits(count: int = 10) -> set[int]:
    """The integers 0 .. count-1."""
    return set(range(count))


# InterpBench draws its "words" vocabularies from Python's `random` seeded with
# 42; these are the resulting word sets, spelled out so they never depend on
# the interpreter's random module.
_WORDS = frozenset({"J", "LB", "TPSI", "V", "b", "no", "oCLrZaW", "poiVg"})

_WORDS_MIN4_MAX10 = frozenset({
    "MbJmTPSI", "SBvrj", "UDIh", "Wvgfy", "bVrp", "fJsONxK", "fLBcbfno",
    "iVgRV", "oCLrZaW", "wwMq",
})

_WORDS_MIN4_MAX50 = frozenset({
    "ADUdRPP", "CHChpo", "DaUUq", "GFfWd", "GprQ", "JaRUhR", "JkqHMBn",
    "LoaeT", "MOkI", "MbJmTPSI", "MeyyMDH", "MuFb", "SBvrj", "TecQo", "UDIh",
    "WUSmTtzQ", "WlGgOtOG", "WrXPvhsB", "Wvgfy", "YEZAm", "bVrp", "dzUv",
    "eWIXiiQ", "fJsONxK", "fLBcbfno", "fogyrD", "gQBw", "iVgRV", "jOkY",
    "kDyrO", "kxwnQr", "mjxWkIXH", "nIiUKKE", "nPFzPD", "oCLrZaW", "oRuXXdoc",
    "oecv", "pKff", "pmmI", "qVLBLzxo", "qipVJ", "vbLJ", "wwMq", "xZtp",
    "zrenKT",
})

# ---------------------------------------------------------------------------
# Shared building blocks (fresh SOps on every call, so labels never collide)
# ---------------------------------------------------------------------------


def _seq_length(name: str = "length") -> rasp.SOp:
    """Number of tokens, broadcast to every position (needs non-causal attention)."""
    everything = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE).named(f"{name}_sel")
    return rasp.SelectorWidth(everything).named(name)


def _shifted(sop: rasp.SOp, offset: int, name: str) -> rasp.SOp:
    """Value of `sop` at position i - offset (None where that position does not exist)."""
    source = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k + offset == q).named(f"{name}_sel")
    return rasp.Aggregate(source, sop, default=None).named(name)


def _count_same_token(name: str = "hist") -> rasp.SOp:
    """How many times the token at each position appears in the whole input."""
    same = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named(f"{name}_sel")
    return rasp.SelectorWidth(same).named(name)


def _first_occurrence_flag(sop: rasp.SOp) -> rasp.SOp:
    """True where the value of `sop` has not appeared at any earlier position.

    Pairs every value with its position, then counts earlier positions holding
    the same value; causal-safe since it only looks backwards.
    """
    tagged = rasp.SequenceMap(lambda v, i: (v, i), sop, rasp.indices).named("tok_pos")
    earlier_same = rasp.Select(tagged, tagged, lambda k, q: k[0] == q[0] and k[1] < q[1]).named("earlier_same")
    n_earlier = rasp.SelectorWidth(earlier_same).named("n_earlier_same")
    return rasp.Map(lambda n: n == 0, n_earlier).named("is_first")


def _keep_first_occurrences(sop: rasp.SOp) -> rasp.SOp:
    """`sop` at positions where its value occurs for the first time, None elsewhere."""
    tagged = rasp.SequenceMap(lambda v, i: (v, i), sop, rasp.indices).named("tok_pos")
    same_up_to_here = rasp.Select(tagged, tagged, lambda k, q: k[0] == q[0] and k[1] <= q[1]).named("same_so_far")
    seen = rasp.SelectorWidth(same_up_to_here).named("times_seen")
    # own index where the value is new, -1 (matches no position) otherwise
    target = rasp.SequenceMap(lambda n, i: i if n == 1 else -1, seen, rasp.indices).named("first_idx")
    pick = rasp.Select(target, rasp.indices, rasp.Comparison.EQ).named("pick_first")
    return rasp.Aggregate(pick, sop, default=None).named("unique_tokens")


def _is_palindrome(word: str) -> bool:
    return word == word[::-1]


# ---------------------------------------------------------------------------
# Custom input samplers
# ---------------------------------------------------------------------------


def _rotation_inputs(rng: np.random.Generator, n: int) -> list[list[str]]:
    """Balanced inputs for case 1 (length 9, letters a-e).

    15% repeat a two-letter pair (every comparison True), 15% cycle through the
    whole vocabulary (every comparison False), the rest are uniform draws whose
    comparisons are mixed.
    """
    letters, length = sorted(_letters(5)), 9
    n_true = min(n, int(np.ceil(0.15 * n)))
    n_false = min(n - n_true, int(np.ceil(0.15 * n)))
    out: list[list[str]] = []
    for _ in range(n_true):
        a, b = rng.choice(len(letters), size=2, replace=False)
        out.append([letters[a] if i % 2 == 0 else letters[b] for i in range(length)])
    for _ in range(n_false):
        out.append([letters[i % len(letters)] for i in range(length)])
    while len(out) < n:
        x = [letters[i] for i in rng.integers(0, len(letters), size=length)]
        flags = [x[i] == x[i - 2] for i in range(2, length)]
        if all(flags) or not any(flags):
            continue
        out.append(x)
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def _balanced_brackets(rng: np.random.Generator, length: int) -> list[str]:
    """A shuffle-Dyck word over (), {} padded with 'x' (every bracket type balanced)."""
    closer = {"(": ")", "{": "}"}
    open_count = {"(": 0, "{": 0}
    word: list[str] = []
    while len(word) < length:
        room = length - len(word)
        pending = sum(open_count.values())
        options = [closer[o] for o in sorted(open_count) if open_count[o] > 0]
        if pending + 1 <= room:
            options.append("x")
        if pending + 2 <= room:
            options.extend(["(", "{"])
        ch = options[int(rng.integers(len(options)))]
        word.append(ch)
        if ch in open_count:
            open_count[ch] += 1
        elif ch != "x":
            open_count["(" if ch == ")" else "{"] -= 1
    return word


def _dyck_inputs(rng: np.random.Generator, n: int) -> list[list[str]]:
    """Case 5: half balanced words, half uniform draws (length 9)."""
    vocab, length = sorted({"(", ")", "{", "}", "x"}), 9
    out = [_balanced_brackets(rng, length) for _ in range(n // 2)]
    while len(out) < n:
        out.append([vocab[i] for i in rng.integers(0, len(vocab), size=length)])
    order = rng.permutation(len(out))
    return [out[i] for i in order]


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


@tracr_case("1", "Whether each token equals the token two positions earlier (None for the first two).",
            vocab=_letters(5), max_seq_len=9, generator=_rotation_inputs)
def rotation_by_two() -> rasp.SOp:
    two_back = _shifted(rasp.tokens, 2, "two_back")
    return rasp.SequenceMap(lambda cur, old: cur == old, rasp.tokens, two_back).named("equals_two_back")


@tracr_case("2", "Reverse the input sequence.",
            vocab=_letters(26), max_seq_len=9, causal=False)
def reverse_sequence() -> rasp.SOp:
    length = _seq_length()
    mirror = rasp.SequenceMap(lambda n, i: n - 1 - i, length, rasp.indices).named("mirror_idx")
    take = rasp.Select(rasp.indices, mirror, rasp.Comparison.EQ).named("take_mirror")
    return rasp.Aggregate(take, rasp.tokens).named("reverse")


@tracr_case("3", "Fraction of 'x' tokens among the first i+1 positions, for every i.",
            vocab=_letters(3) | {"x"}, max_seq_len=4)
def fraction_of_x() -> rasp.SOp:
    is_x = rasp.numerical(rasp.Map(lambda t: t == "x", rasp.tokens)).named("is_x")
    upto = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ).named("upto_here")
    return rasp.numerical(rasp.Aggregate(upto, is_x, default=0)).named("frac_x")


@tracr_case("4", "Running fraction of '(' minus running fraction of ')' up to each position.",
            vocab=_letters(3) | {"(", ")"}, max_seq_len=9)
def paren_balance() -> rasp.SOp:
    upto = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ).named("upto_here")
    is_open = rasp.numerical(rasp.Map(lambda t: t == "(", rasp.tokens)).named("is_open")
    is_close = rasp.numerical(rasp.Map(lambda t: t == ")", rasp.tokens)).named("is_close")
    frac_open = rasp.numerical(rasp.Aggregate(upto, is_open, default=0)).named("frac_open")
    frac_close = rasp.numerical(rasp.Aggregate(upto, is_close, default=0)).named("frac_close")
    return rasp.numerical(rasp.LinearSequenceMap(frac_open, frac_close, 1, -1)).named("balance")


@tracr_case("5", "True at every position if both () and {} are balanced (shuffle-Dyck-2), else False.",
            vocab={"(", ")", "{", "}", "x"}, max_seq_len=9, causal=False, generator=_dyck_inputs)
def shuffle_dyck_two() -> rasp.SOp:
    """Each bracket type must never close more than it opened and must end at zero."""
    return lib.make_shuffle_dyck(pairs=["()", "{}"]).named("shuffle_dyck2")


@tracr_case("6", "Whether each digit is a turning point: rising into it differs from rising out of it.",
            vocab=_digits(), max_seq_len=9, causal=False)
def oscillation() -> rasp.SOp:
    before = _shifted(rasp.tokens, 1, "prev_tok")
    after = _shifted(rasp.tokens, -1, "next_tok")
    rose_in = rasp.SequenceMap(lambda p, c: c > p, before, rasp.tokens).named("rose_in")
    rises_out = rasp.SequenceMap(lambda c, nx: nx > c, rasp.tokens, after).named("rises_out")
    return rasp.SequenceMap(lambda a, b: a != b, rose_in, rises_out).named("oscillates")


@tracr_case("7", "Number of times each token occurs in the input.",
            vocab=_letters(3), max_seq_len=9, causal=False)
def token_histogram() -> rasp.SOp:
    return _count_same_token("hist")


@tracr_case("8", "Replace a missing token followed by a present one with the filler '-' (inputs have no gaps, "
            "so tokens pass through; the last position has no successor and is None).",
            vocab=_WORDS, max_seq_len=9, causal=False)
def gap_filler() -> rasp.SOp:
    """InterpBench marked this causal, but it reads the next position, so it is compiled non-causally."""
    after = _shifted(rasp.tokens, -1, "next_tok")
    return rasp.SequenceMap(lambda cur, nxt: "-" if cur is None and nxt is not None else cur,
                            rasp.tokens, after).named("gap_filled")


@tracr_case("9", "Sort the digits in ascending order (ties kept in input order).",
            vocab=_digits(), max_seq_len=9, causal=False)
def sort_digits() -> rasp.SOp:
    # tie-break equal digits by position: key = digit + position / 10
    key = rasp.SequenceMap(lambda d, i: d + i / 10, rasp.tokens, rasp.indices).named("sort_key")
    smaller = rasp.Select(key, key, rasp.Comparison.LT).named("smaller_key")
    rank = rasp.SelectorWidth(smaller).named("rank")
    place = rasp.Select(rank, rasp.indices, rasp.Comparison.EQ).named("place_by_rank")
    return rasp.Aggregate(place, rasp.tokens).named("sorted")


@tracr_case("10", "Keep each word that reads the same from both ends (first half mirrors the last half), "
            "None otherwise.",
            vocab=set(_WORDS) | {"radar", "rotor"}, max_seq_len=9)
def symmetric_words() -> rasp.SOp:
    half = rasp.Map(lambda w: len(w) // 2, rasp.tokens).named("half_len")
    mirrored = rasp.SequenceMap(lambda w, h: w[:h] == w[::-1][:h], rasp.tokens, half).named("halves_mirror")
    return rasp.SequenceMap(lambda w, ok: w if ok else None, rasp.tokens, mirrored).named("symmetric_word")


@tracr_case("11", "Length of each word, read from the positions holding words of the same length.",
            vocab=_WORDS, max_seq_len=9)
def word_length_group() -> rasp.SOp:
    n_chars = rasp.Map(len, rasp.tokens).named("word_len")
    same_len = rasp.Select(n_chars, n_chars, rasp.Comparison.EQ).named("same_len")
    return rasp.Aggregate(same_len, n_chars, default=None).named("group_len")


@tracr_case("12", "True at the last position of each occurrence of the pattern 'abc' (None for the first two).",
            vocab=_letters(3), max_seq_len=14)
def detect_abc() -> rasp.SOp:
    is_a = rasp.Map(lambda t: t == "a", rasp.tokens).named("is_a")
    is_b = rasp.Map(lambda t: t == "b", rasp.tokens).named("is_b")
    is_c = rasp.Map(lambda t: t == "c", rasp.tokens).named("is_c")
    a_two_back = _shifted(is_a, 2, "a_two_back")
    b_one_back = _shifted(is_b, 1, "b_one_back")
    ab = rasp.SequenceMap(lambda x, y: x and y, a_two_back, b_one_back).named("ab_before")
    return rasp.SequenceMap(lambda x, y: x and y, ab, is_c).named("abc_here")


@tracr_case("13", "Trend from each digit to the next: 'increasing', 'decreasing' or 'constant' (None at the end).",
            vocab=_digits(3), max_seq_len=9, causal=False)
def trend() -> rasp.SOp:
    after = _shifted(rasp.tokens, -1, "next_tok")

    def label(cur, nxt):
        if nxt > cur:
            return "increasing"
        if nxt < cur:
            return "decreasing"
        return "constant"

    return rasp.SequenceMap(label, rasp.tokens, after).named("trend")


@tracr_case("14", "Number of 'a' tokens in the input, at every position.",
            vocab=_letters(3), max_seq_len=9, causal=False)
def count_a() -> rasp.SOp:
    a_keys = rasp.Select(rasp.tokens, rasp.tokens, lambda k, q: k == "a").named("a_keys")
    return rasp.SelectorWidth(a_keys).named("count_a")


@tracr_case("15", "Each token doubled minus its position (x + x - i), via a tuple-building n-ary map.",
            vocab=_digits(5), max_seq_len=4)
def double_minus_index() -> rasp.SOp:
    pair = rasp.SequenceMap(lambda a, b: (a, b), rasp.tokens, rasp.tokens).named("tok_tok")
    triple = rasp.SequenceMap(lambda ab, i: (*ab, i), pair, rasp.indices).named("tok_tok_idx")
    return rasp.Map(lambda t: t[0] + t[1] - t[2], triple).named("double_minus_idx")


@tracr_case("16", "Lexical density: number of distinct words over the number of words, shown at the "
            "first occurrence of each word (0 at repeats).",
            vocab=_WORDS, max_seq_len=9, causal=False)
def lexical_density() -> rasp.SOp:
    """InterpBench marked this causal, but it divides by the whole length, so it is compiled non-causally.

    Distinct words are counted as positions holding a word for the first time
    (counting non-None first-occurrence tokens directly is numerically fragile
    in the compiled model, so the count reads clean boolean flags instead).
    """
    is_first = _first_occurrence_flag(rasp.tokens)
    first_keys = rasp.Select(is_first, is_first, lambda k, q: k).named("first_keys")
    n_distinct = rasp.SelectorWidth(first_keys).named("n_distinct")
    length = _seq_length()
    ratio = rasp.SequenceMap(lambda d, n: d / n if n > 0 else None, n_distinct, length).named("ratio")
    return rasp.SequenceMap(lambda r, f: r if f else 0, ratio, is_first).named("lexical_density")


@tracr_case("17", "Whether each token equals the token at the mirrored position (palindrome check per position).",
            vocab=_letters(3), max_seq_len=9, causal=False)
def palindrome_positions() -> rasp.SOp:
    length = _seq_length()
    mirror = rasp.SequenceMap(lambda n, i: n - 1 - i, length, rasp.indices).named("mirror_idx")
    take = rasp.Select(rasp.indices, mirror, rasp.Comparison.EQ).named("take_mirror")
    mirrored_tok = rasp.Aggregate(take, rasp.tokens).named("reverse")
    return rasp.SequenceMap(lambda a, b: a == b, rasp.tokens, mirrored_tok).named("matches_mirror")


@tracr_case("18", "Label each token 'frequent' (> 1/2 of the input), 'common' (> 1/4) or 'rare'.",
            vocab=_letters(5), max_seq_len=9, causal=False)
def frequency_class() -> rasp.SOp:
    hist = _count_same_token("hist")
    length = _seq_length()

    def label(count, total):
        if count > total / 2:
            return "frequent"
        if count > total / 4:
            return "common"
        return "rare"

    return rasp.SequenceMap(label, hist, length).named("freq_class")


@tracr_case("19", "Drop tokens equal to their predecessor: keep the token, or None if it repeats the previous one.",
            vocab=_letters(3), max_seq_len=14)
def drop_repeats() -> rasp.SOp:
    before = _shifted(rasp.tokens, 1, "prev_tok")
    return rasp.SequenceMap(lambda cur, prev: None if cur == prev else cur,
                            rasp.tokens, before).named("dedup")


@tracr_case("20", "Tag each word 'spam' if it is a spam keyword (free, offer, click, now), else 'not spam'.",
            vocab=set(_WORDS) | {"spam", "offer", "click", "now"}, max_seq_len=9)
def spam_words() -> rasp.SOp:
    keywords = ("free", "offer", "click", "now")
    hits = rasp.Map(lambda w: sum(w == k for k in keywords), rasp.tokens).named("keyword_hits")
    return rasp.Map(lambda h: "spam" if h > 0 else "not spam", hits).named("spam_tag")


@tracr_case("21", "Keep each token at its first occurrence; later repeats become None.",
            vocab=_letters(3), max_seq_len=9)
def unique_tokens() -> rasp.SOp:
    return _keep_first_occurrences(rasp.tokens)


@tracr_case("22", "Sort the words by length, shorter first (ties kept in input order).",
            vocab=_WORDS, max_seq_len=9, causal=False)
def sort_by_length() -> rasp.SOp:
    n_chars = rasp.Map(len, rasp.tokens).named("word_len")
    key = rasp.SequenceMap(lambda n, i: n + i / 10, n_chars, rasp.indices).named("sort_key")
    smaller = rasp.Select(key, key, rasp.Comparison.LT).named("smaller_key")
    rank = rasp.SelectorWidth(smaller).named("rank")
    place = rasp.Select(rank, rasp.indices, rasp.Comparison.EQ).named("place_by_rank")
    return rasp.Aggregate(place, rasp.tokens).named("sorted_by_len")


@tracr_case("23", "Keep the words that are palindromes; None for the others.",
            vocab=set(_WORDS) | {"racecar", "noon"}, max_seq_len=9)
def palindrome_words() -> rasp.SOp:
    return rasp.Map(lambda w: w if _is_palindrome(w) else None, rasp.tokens).named("palindrome_word")


@tracr_case("24", "True where a token occurs for the first time in the sequence, False at repeats.",
            vocab=_letters(3), max_seq_len=9)
def first_occurrence() -> rasp.SOp:
    """InterpBench's program for this id copies the tokens; this one computes what its description says."""
    return _first_occurrence_flag(rasp.tokens)


@tracr_case("25", "Frequency of each token divided by the sequence length.",
            vocab=_letters(3), max_seq_len=9, causal=False)
def normalized_frequency() -> rasp.SOp:
    hist = _count_same_token("hist")
    length = _seq_length()
    return rasp.SequenceMap(lambda c, n: c / n if n > 0 else None, hist, length).named("norm_freq")


@tracr_case("26", "Repeat each token i+1 times, where i is its position ('a', 'bb', 'ccc', ...).",
            vocab=_letters(3), max_seq_len=9)
def token_cascade() -> rasp.SOp:
    return rasp.SequenceMap(lambda t, i: t * (i + 1), rasp.tokens, rasp.indices).named("cascade")


@tracr_case("27", "Where each position lies in the sequence: 'front' (first third), 'rear' (last third) or 'center'.",
            vocab=_letters(5), max_seq_len=9, min_seq_len=3, causal=False)
def position_region() -> rasp.SOp:
    """The output depends only on the length, so inputs of 3 to 9 tokens are drawn."""
    length = _seq_length()

    def region(i, n):
        if i < n / 3:
            return "front"
        if i > 2 * n / 3:
            return "rear"
        return "center"

    return rasp.SequenceMap(region, rasp.indices, length).named("region")


@tracr_case("28", "Reverse the letters of each word.",
            vocab=_WORDS_MIN4_MAX50, max_seq_len=9)
def mirror_words() -> rasp.SOp:
    return rasp.Map(lambda w: w[::-1], rasp.tokens).named("mirrored")


@tracr_case("29", "Abbreviate each word to its first three letters (shorter words unchanged).",
            vocab=_WORDS, max_seq_len=9)
def abbreviate() -> rasp.SOp:
    return rasp.Map(lambda w: w[:3], rasp.tokens).named("abbrev")


@tracr_case("30", "Whether each number token lies in the range 10..20 (inclusive).",
            vocab={str(v) for v in range(30)}, max_seq_len=9)
def in_range_10_20() -> rasp.SOp:
    return rasp.Map(lambda s: s.isdigit() and 10 <= int(s) <= 20, rasp.tokens).named("in_range")


@tracr_case("31", "Whether each word is an anagram of 'listen'.",
            vocab=set(_WORDS) | {"listen"}, max_seq_len=9)
def anagram_of_listen() -> rasp.SOp:
    target = sorted("listen")
    return rasp.Map(lambda w: sorted(w) == target, rasp.tokens).named("is_anagram")


@tracr_case("32", "Whether each word differs from the previous one (a boundary); None at the first position.",
            vocab=_WORDS_MIN4_MAX10, max_seq_len=9)
def boundaries() -> rasp.SOp:
    before = _shifted(rasp.tokens, 1, "prev_tok")
    return rasp.SequenceMap(lambda cur, prev: cur != prev, rasp.tokens, before).named("boundary")


@tracr_case("33", "Whether each word has an even number of letters.",
            vocab=_WORDS, max_seq_len=9)
def even_length_words() -> rasp.SOp:
    return rasp.Map(lambda w: len(w) % 2 == 0, rasp.tokens).named("even_len")
