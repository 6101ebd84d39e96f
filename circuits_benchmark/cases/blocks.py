"""RASP building blocks shared by several cases (InterpBench's common programs).

Each function builds fresh SOps on every call, with the node arrangement and names
InterpBench's cases use, so a case built from them has InterpBench's graph.
"""

from __future__ import annotations

from typing import Any, Sequence

from tracr.rasp import rasp


def make_length() -> rasp.SOp:
    """The number of tokens, at every position (a SelectorWidth over an all-true selector)."""
    all_true = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE).named("all_true_selector")
    return rasp.SelectorWidth(all_true).named("length")


def make_frac_prevs(bools: rasp.SOp) -> rasp.SOp:
    """Fraction of positions up to each i where `bools` is true (numerical mean over j <= i)."""
    bools = rasp.numerical(bools)
    prevs = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    return rasp.numerical(rasp.Aggregate(prevs, bools, default=0)).named("frac_prevs")


def make_pair_balance(sop: rasp.SOp, open_token: str, close_token: str) -> rasp.SOp:
    """Running fraction of `open_token` minus running fraction of `close_token`."""
    bools_open = rasp.numerical(sop == open_token).named("bools_open")
    opens = rasp.numerical(make_frac_prevs(bools_open)).named("opens")
    bools_close = rasp.numerical(sop == close_token).named("bools_close")
    closes = rasp.numerical(make_frac_prevs(bools_close)).named("closes")
    balance = rasp.numerical(rasp.LinearSequenceMap(opens, closes, 1, -1))
    return balance.named("pair_balance")


def make_shuffle_dyck(pairs: Sequence[str]) -> rasp.SOp:
    """1 at every position when each bracket pair in `pairs` (e.g. "()") is balanced, else 0."""
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError(f"pairs must be two-character strings, got {pairs!r}")
    balances = [
        make_pair_balance(rasp.tokens, open_token=p[0], close_token=p[1]).named(f"balance_{p}")
        for p in pairs
    ]
    any_negative = balances[0] < 0
    for balance in balances[1:]:
        any_negative = any_negative | (balance < 0)
    any_negative = rasp.numerical(rasp.Map(lambda x: x, any_negative)).named("any_negative")
    select_all = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.TRUE).named("select_all")
    has_neg = rasp.numerical(rasp.Aggregate(select_all, any_negative, default=0)).named("has_neg")

    all_zero = balances[0] == 0
    for balance in balances[1:]:
        all_zero = all_zero & (balance == 0)
    select_last = rasp.Select(rasp.indices, make_length() - 1, rasp.Comparison.EQ).named("select_last")
    last_zero = rasp.Aggregate(select_last, all_zero).named("last_zero")

    not_has_neg = (~has_neg).named("not_has_neg")
    return (last_zero & not_has_neg).named("shuffle_dyck")


def make_hist() -> rasp.SOp:
    """How many times each position's token occurs in the whole input."""
    same_tok = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ).named("same_tok")
    return rasp.SelectorWidth(same_tok).named("hist")


def make_sort_unique(vals: rasp.SOp, keys: rasp.SOp) -> rasp.SOp:
    """`vals` ordered by `keys`, which must be unique."""
    smaller = rasp.Select(keys, keys, rasp.Comparison.LT).named("smaller")
    target_pos = rasp.SelectorWidth(smaller).named("target_pos")
    sel_new = rasp.Select(target_pos, rasp.indices, rasp.Comparison.EQ)
    return rasp.Aggregate(sel_new, vals).named("sort")


def make_sort(vals: rasp.SOp, keys: rasp.SOp, max_seq_len: int, min_key: float) -> rasp.SOp:
    """`vals` ordered by numerical `keys`; ties are broken by position (`min_key * i / max_seq_len`)."""
    keys = rasp.SequenceMap(lambda x, i: x + min_key * i / max_seq_len, keys, rasp.indices)
    return make_sort_unique(vals, keys)


def shift_by(offset: int, sop: rasp.SOp, default: Any = None) -> rasp.SOp:
    """`sop` read `offset` positions back; `default` where that position does not exist."""
    select_off_by_offset = rasp.Select(rasp.indices, rasp.indices, lambda k, q: q == k + offset)
    return rasp.Aggregate(select_off_by_offset, sop, default=default).named(f"shift_by({offset})")


def detect_pattern(sop: rasp.SOp, pattern: Sequence[Any]) -> rasp.SOp:
    """True at the last position of each occurrence of `pattern` (None for the first len-1)."""
    if len(pattern) < 1:
        raise ValueError(f"pattern must have at least one element, got {pattern!r}")
    # detectors[i]: the i-th element from the end of the pattern seen i positions back
    detectors = []
    for i, element in enumerate(reversed(pattern)):
        detector = sop == element
        detectors.append(shift_by(i, detector) if i else detector)
    detected = detectors.pop()
    while detectors:
        detected = detected & detectors.pop()
    return detected.named(f"detect_pattern({pattern})")


def make_unique_token_extractor(sop: rasp.SOp) -> rasp.SOp:
    """`sop` where its value occurs for the first time, None at later repeats."""
    with_indices = rasp.SequenceMap(lambda x, i: (x, i), sop, rasp.indices)
    same_so_far = rasp.Select(with_indices, with_indices, lambda k, q: k[0] == q[0] and k[1] <= q[1])
    times_seen = rasp.SelectorWidth(same_so_far)
    first_index = rasp.SequenceMap(lambda count, i: i if count == 1 else -1, times_seen, rasp.indices)
    pick = rasp.Select(first_index, rasp.indices, rasp.Comparison.EQ).named("unique_tokens_selector")
    return rasp.Aggregate(pick, sop, default=None).named("unique_tokens")


def make_reverse(sop: rasp.SOp) -> rasp.SOp:
    """`sop` in reverse order (reads position length - i - 1)."""
    opp_idx = (make_length() - rasp.indices).named("opp_idx")
    opp_idx = (opp_idx - 1).named("opp_idx-1")
    reverse_selector = rasp.Select(rasp.indices, opp_idx, rasp.Comparison.EQ).named("reverse_selector")
    return rasp.Aggregate(reverse_selector, sop).named("reverse")


def make_max_element() -> rasp.SOp:
    """The largest token, at every position (the token that is >= as many tokens as the length)."""
    unique_tokens = rasp.SequenceMap(lambda x, i: x + i * 1e-14, rasp.tokens, rasp.indices)
    leq_selector = rasp.Select(unique_tokens, unique_tokens, rasp.Comparison.LEQ).named("leq_selector")
    leq_count = rasp.SelectorWidth(leq_selector).named("leq_count")
    max_element_selector = rasp.Select(leq_count, make_length(), rasp.Comparison.EQ).named("max_element_selector")
    return rasp.Aggregate(max_element_selector, rasp.tokens).named("max_sequence")


def unnamed_length(sop: rasp.SOp = rasp.indices) -> rasp.SOp:
    """The number of tokens, at every position: an unnamed SelectorWidth over an unnamed all-true Select of `sop`."""
    return rasp.SelectorWidth(rasp.Select(sop, sop, rasp.Comparison.TRUE))


def constant(value: Any) -> rasp.SOp:
    """`value` at every position (an unnamed Map over the indices)."""
    return rasp.Map(lambda _: value, rasp.indices)


def count_zeros(sop: rasp.SOp) -> rasp.SOp:
    """How many positions have `sop` == 0, at every position (an unnamed SelectorWidth)."""
    return rasp.SelectorWidth(rasp.Select(sop, constant(0), rasp.Comparison.EQ))


def all_checks_pass(checks: rasp.SOp) -> rasp.SOp:
    """1 at every position if no position of `checks` is 0, else 0."""
    return rasp.Map(lambda count: 0 if count > 0 else 1, count_zeros(checks))


def previous_token() -> rasp.SOp:
    """tokens[i - 1] at position i, tokens[0] at position 0 (unnamed Select and Aggregate)."""
    prev = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1 or (k == 0 and q == 0))
    return rasp.Aggregate(prev, rasp.tokens)


def shift_by_one_clamped() -> rasp.SOp:
    """tokens[i + 1] at every position i, and the last token itself at the last position."""
    length = unnamed_length()
    # the last position asks for its predecessor's successor, i.e. itself
    target = rasp.SequenceMap(lambda i, n: i if i < n - 1 else i - 1, rasp.indices, length)
    next_selector = rasp.Select(rasp.indices, target, lambda key, query: key - 1 == query)
    return rasp.Aggregate(next_selector, rasp.tokens)


def last_two_tokens() -> tuple[rasp.SOp, rasp.SOp]:
    """The last and the second-to-last token, at every position (all nodes unnamed)."""
    length = unnamed_length(rasp.tokens)
    last_idx = rasp.Map(lambda n: n - 1, length)
    second_to_last_idx = rasp.Map(lambda n: n - 2, length)
    last = rasp.Aggregate(rasp.Select(rasp.indices, last_idx, rasp.Comparison.EQ), rasp.tokens)
    second_to_last = rasp.Aggregate(rasp.Select(rasp.indices, second_to_last_idx, rasp.Comparison.EQ), rasp.tokens)
    return last, second_to_last


def is_prime(n: int) -> bool:
    """Whether `n` is a prime number (trial division up to sqrt(n)); a value function for Maps."""
    return n > 1 and all(n % d != 0 for d in range(2, int(n**0.5) + 1))
