"""Paired comparisons of methods over cases: Wilcoxon signed-rank and Vargha-Delaney A12."""

from __future__ import annotations

import pytest

from circuits_benchmark.evaluation.statistics import (
    a12_magnitude, compare_methods, format_comparisons, summarize_methods, vargha_delaney_a12, wilcoxon_p, wins_matrix,
)


def test_a12_counts_wins_and_half_ties():
    assert vargha_delaney_a12([1, 2, 3], [1, 2, 3]) == 0.5
    assert vargha_delaney_a12([5, 6], [1, 2, 3]) == 1.0
    assert vargha_delaney_a12([2, 3], [1, 2]) == pytest.approx(3.5 / 4)  # 2>1, 2=2, 3>1, 3>2
    assert vargha_delaney_a12([1, 2], [2, 3]) == pytest.approx(0.5 / 4)
    with pytest.raises(ValueError):
        vargha_delaney_a12([], [1])


@pytest.mark.parametrize("a12,name", [(0.5, "negligible"), (0.55, "negligible"), (0.6, "small"), (0.4, "small"),
                                      (0.65, "medium"), (0.8, "large"), (0.1, "large")])
def test_a12_magnitudes_are_symmetric(a12, name):
    assert a12_magnitude(a12) == name


def test_wilcoxon_exact_p_and_no_test_without_differences():
    # 10 positive differences of distinct sizes: the exact two-sided p is 2 / 2**10
    assert wilcoxon_p([i + 1.0 for i in range(10)], [0.0] * 10) == pytest.approx(2 / 1024)
    assert wilcoxon_p([0.7, 0.8], [0.7, 0.8]) is None


def _scores(a: list[float], b: list[float], cases=None) -> dict[tuple[str, str], float]:
    cases = cases or [str(i) for i in range(len(a))]
    return {**{("good", c): v for c, v in zip(cases, a)}, **{("weak", c): v for c, v in zip(cases, b)}}


def test_a_method_better_on_every_case_wins():
    good = [0.9 + 0.005 * i for i in range(12)]
    weak = [0.6 + 0.01 * i for i in range(12)]
    (c,) = compare_methods(_scores(good, weak))
    assert (c.a, c.b, c.n_cases, c.winner, c.magnitude) == ("good", "weak", 12, "good", "large")
    assert c.mean_difference == pytest.approx(sum(g - w for g, w in zip(good, weak)) / 12)
    # the same numbers as a loss (lower is better): the other method wins
    (c,) = compare_methods(_scores(good, weak), higher_is_better=False)
    assert c.winner == "weak" and c.mean_difference == pytest.approx(sum(g - w for g, w in zip(good, weak)) / 12)


def test_equal_methods_and_too_few_cases_have_no_winner():
    (c,) = compare_methods(_scores([1.0] * 8, [1.0] * 8))
    assert c.p_value is None and c.winner is None and c.a12 == 0.5
    (c,) = compare_methods(_scores([0.9, 0.8], [0.5, 0.4]))  # two cases cannot reach p < 0.05
    assert c.p_value > 0.05 and c.winner is None


def test_only_shared_cases_are_compared_and_nan_is_left_out():
    scores = _scores([0.9, 0.8, float("nan")], [0.5, 0.4, 0.3])
    scores[("weak", "extra")] = 0.1
    (c,) = compare_methods(scores)
    assert c.n_cases == 2
    summary = {s.method: s for s in summarize_methods(scores)}
    assert summary["good"].n_cases == 2 and summary["good"].mean == pytest.approx(0.85)
    assert summary["weak"].n_cases == 4 and summary["weak"].median == pytest.approx(0.35)


def test_tables_name_the_winner():
    scores = _scores([0.95] * 6 + [0.99] * 6, [0.5 + 0.01 * i for i in range(12)])
    scores.update({("third", str(i)): 0.5 + 0.01 * i for i in range(12)})
    comparisons = compare_methods(scores)
    text = format_comparisons(comparisons)
    assert "| good | weak | 12 |" in text and sum(line.startswith("| good |") for line in text.splitlines()) == 2
    assert text.count("| good |\n") == 2  # the winner column of both of its pairs
    matrix = wins_matrix(comparisons)
    assert "| good |  | > | > |" in matrix and "| third | < |  | = |" in matrix


def test_holm_adjustment_and_winners_use_it():
    from circuits_benchmark.evaluation.statistics import holm_adjust

    # sorted 0.01, 0.02, 0.04 of 3 tests: 0.03, max(0.03, 0.04), max(0.04, 0.04); None is no test
    assert holm_adjust([0.04, None, 0.01, 0.02]) == [pytest.approx(0.04), None, pytest.approx(0.03), pytest.approx(0.04)]
    assert holm_adjust([0.3, 0.9]) == [pytest.approx(0.6), pytest.approx(0.9)]
    # one clear difference among many pairs: p = 2/1024 alone wins; adjusted over 3 pairs it still does
    good = [0.9 + 0.005 * i for i in range(10)]
    weak = [0.6 + 0.01 * i for i in range(10)]
    scores = {**_scores(good, weak), **{("noise", str(i)): v for i, v in enumerate(weak[::-1])}}
    comparisons = {(c.a, c.b): c for c in compare_methods(scores)}
    c = comparisons[("good", "weak")]
    assert c.p_value == pytest.approx(2 / 1024) and c.p_holm == pytest.approx(3 * 2 / 1024) and c.winner == "good"
    # a p just under 0.05 that Holm lifts above it has no winner
    from circuits_benchmark.evaluation.statistics import Comparison

    assert Comparison("a", "b", 10, 0.1, 0.04, 0.7, p_holm=0.08).winner is None
    assert Comparison("a", "b", 10, 0.1, 0.04, 0.7).winner == "a"


def test_lower_is_better_summaries_rank_low_first_and_count_low_as_saturated():
    scores = _scores([0.01, 0.015, 0.3], [0.2, 0.25, 0.3])
    best, worst = summarize_methods(scores, higher_is_better=False)
    assert (best.method, worst.method) == ("good", "weak")
    assert best.share_at_least == pytest.approx(2 / 3) and worst.share_at_least == 0.0
    from circuits_benchmark.evaluation.statistics import format_summary

    assert "share <= 0.02" in format_summary([best, worst], "cmd")
    assert "share >= 0.98" in format_summary(summarize_methods(scores), "auroc")
