"""Which method beats which: per-method summaries and paired comparisons over cases.

For a metric where higher is better (AUROC, CPR) and two methods scored on the same cases:
- the Wilcoxon signed-rank test on the per-case differences (scipy; two-sided, zero differences
  dropped as in Wilcoxon's original test; no test when every difference is zero);
- the Vargha-Delaney A12 effect size: the probability that a case's score of method A exceeds a
  case's score of method B, ties counting half (0.5 = no difference). Its conventional magnitudes
  (Vargha & Delaney 2000): negligible below 0.56 (or above 0.44), small, medium from 0.64, large
  from 0.71.
A method "beats" another when its Holm-adjusted p < ALPHA and A12 > 0.5 (lower-is-better metrics:
pass `higher_is_better=False`, and A12 is computed on the negated scores). The Holm step-down
adjustment runs over all pairs of one metric: with 19 method variants there are 171 tests, and
unadjusted p-values would declare about 8 chance winners at 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Mapping, Optional, Sequence

import numpy as np

ALPHA = 0.05
A12_MAGNITUDES = ((0.71, "large"), (0.64, "medium"), (0.56, "small"), (0.0, "negligible"))


def vargha_delaney_a12(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + 0.5 P(X = Y) over all pairs of a value of `x` and a value of `y`."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("A12 needs at least one value on each side")
    greater = (a[:, None] > b[None, :]).sum()
    ties = (a[:, None] == b[None, :]).sum()
    return float((greater + 0.5 * ties) / (a.size * b.size))


def a12_magnitude(a12: float) -> str:
    """negligible / small / medium / large, symmetric around 0.5."""
    distance = 0.5 + abs(a12 - 0.5)
    return next(name for bound, name in A12_MAGNITUDES if distance >= bound)


def wilcoxon_p(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences x - y; None when all are zero."""
    from scipy.stats import wilcoxon

    diff = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if not np.any(diff != 0):
        return None
    return float(wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)


@dataclass(frozen=True)
class MethodSummary:
    method: str
    n_cases: int
    mean: float
    median: float
    minimum: float
    share_at_least: float
    """Share of saturated cases (how often the method is perfect or nearly): scoring at least `SATURATED`,
    or for a lower-is-better metric at most 1 - `SATURATED`."""
    higher_is_better: bool = True


SATURATED = 0.98


@dataclass(frozen=True)
class Comparison:
    """Method `a` against method `b` over the `n_cases` cases both were scored on."""

    a: str
    b: str
    n_cases: int
    mean_difference: float
    p_value: Optional[float]
    a12: float
    p_holm: Optional[float] = None
    """`p_value` Holm-adjusted over every comparison of the metric (`compare_methods` sets it)."""

    @property
    def winner(self) -> Optional[str]:
        p = self.p_holm if self.p_holm is not None else self.p_value
        if p is None or p >= ALPHA or self.a12 == 0.5:
            return None
        return self.a if self.a12 > 0.5 else self.b

    @property
    def magnitude(self) -> str:
        return a12_magnitude(self.a12)


Scores = Mapping[tuple[str, str], float]
"""(method, case) -> score."""


def _by_method(scores: Scores) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for (method, case), value in scores.items():
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out.setdefault(method, {})[case] = float(value)
    return out


def summarize_methods(scores: Scores, higher_is_better: bool = True) -> list[MethodSummary]:
    """Mean, median, minimum and the share of saturated cases per method, best mean first."""
    rows = []
    for method, per_case in _by_method(scores).items():
        values = np.array(list(per_case.values()))
        saturated = values >= SATURATED if higher_is_better else values <= 1.0 - SATURATED
        rows.append(MethodSummary(method, len(values), float(values.mean()), float(np.median(values)),
                                  float(values.min()), float(saturated.mean()), higher_is_better))
    sign = -1.0 if higher_is_better else 1.0
    return sorted(rows, key=lambda r: (sign * r.mean, r.method))


def holm_adjust(p_values: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Holm's step-down adjusted p-values (None stays None and does not count as a test)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[Optional[float]] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        out[i] = running
    return out


def compare_methods(scores: Scores, higher_is_better: bool = True) -> list[Comparison]:
    """Every pair of methods, on the cases both have (pairs with no shared case are left out), with
    Holm-adjusted p-values over all the pairs."""
    by_method = _by_method(scores)
    sign = 1.0 if higher_is_better else -1.0
    out = []
    for a, b in combinations(sorted(by_method), 2):
        cases = sorted(set(by_method[a]) & set(by_method[b]))
        if not cases:
            continue
        x = [sign * by_method[a][c] for c in cases]
        y = [sign * by_method[b][c] for c in cases]
        out.append(Comparison(a, b, len(cases), float(np.mean(np.subtract(x, y))) * sign, wilcoxon_p(x, y),
                              vargha_delaney_a12(x, y)))
    adjusted = holm_adjust([c.p_value for c in out])
    return [replace(c, p_holm=p) for c, p in zip(out, adjusted)]


def comparison_rows(comparisons: Sequence[Comparison], metric: str) -> list[dict]:
    """Rows for CSV / JSON files."""
    return [{"metric": metric, "method_a": c.a, "method_b": c.b, "n_cases": c.n_cases,
             "mean_difference": c.mean_difference, "wilcoxon_p": c.p_value, "holm_p": c.p_holm, "a12": c.a12,
             "magnitude": c.magnitude, "winner": c.winner} for c in comparisons]


def format_summary(summaries: Sequence[MethodSummary], metric: str) -> str:
    """Markdown table: the per-method summary."""
    bound = f">= {SATURATED}" if not summaries or summaries[0].higher_is_better else f"<= {1.0 - SATURATED:.2f}"
    lines = [f"| method | cases | mean {metric} | median | min | share {bound} |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {s.method} | {s.n_cases} | {s.mean:.3f} | {s.median:.3f} | {s.minimum:.3f} | {s.share_at_least:.0%} |"
              for s in summaries]
    return "\n".join(lines)


def format_comparisons(comparisons: Sequence[Comparison]) -> str:
    """Markdown table: each pair, its test and effect size, and which method beats which (if any)."""
    lines = ["| A | B | cases | mean A - B | Wilcoxon p | Holm p | A12 | magnitude | better |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for c in comparisons:
        p = "-" if c.p_value is None else f"{c.p_value:.3g}"
        holm = "-" if c.p_holm is None else f"{c.p_holm:.3g}"
        lines.append(f"| {c.a} | {c.b} | {c.n_cases} | {c.mean_difference:+.3f} | {p} | {holm} | {c.a12:.3f} | "
                     f"{c.magnitude} | {c.winner or 'no difference'} |")
    return "\n".join(lines)


def wins_matrix(comparisons: Sequence[Comparison]) -> str:
    """Markdown matrix: row method vs column method, '>' where the row beats the column, '<' where it loses."""
    methods = sorted({c.a for c in comparisons} | {c.b for c in comparisons})
    cell = {(m, m): "" for m in methods}
    for c in comparisons:
        w = c.winner
        cell[(c.a, c.b)] = ">" if w == c.a else "<" if w == c.b else "="
        cell[(c.b, c.a)] = ">" if w == c.b else "<" if w == c.a else "="
    lines = ["| | " + " | ".join(methods) + " |", "| --- " * (len(methods) + 1) + "|"]
    lines += [f"| {m} | " + " | ".join(cell.get((m, o), " ") for o in methods) + " |" for m in methods]
    return "\n".join(lines)
