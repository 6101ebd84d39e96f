"""ROC and faithfulness-curve pictures (matplotlib ``Figure`` objects, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from matplotlib.figure import Figure

from circuits_benchmark.utils.atomic import atomic_write

from .auroc import RocResult
from .faithfulness import FaithfulnessResult

PathLike = Union[str, Path]


def _save(fig: Figure, path: PathLike) -> Path:
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=120, bbox_inches="tight"))


def plot_roc(curves: Mapping[str, RocResult], path: PathLike, title: Optional[str] = None) -> Path:
    """ROC curves (one per label) with their AUROC in the legend; the chance diagonal dashed."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    for label, roc in curves.items():
        marker = "o" if roc.variant.startswith("mib") else None
        ax.plot(roc.fpr, roc.tpr, marker=marker, markersize=3,
                label=f"{label} ({roc.variant}, {roc.level}): {roc.auroc:.3f}")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    return _save(fig, path)


def plot_faithfulness(result: FaithfulnessResult, path: PathLike, title: Optional[str] = None) -> Path:
    """f over the fraction of edges (log x) for signed (CPR) and absolute (CMD) selection."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.plot(result.signed.fractions, result.signed.faithfulness, marker="o", markersize=3,
            label=f"signed scores: CPR {result.cpr:.3f}")
    ax.plot(result.absolute.fractions, result.absolute.faithfulness, marker="s", markersize=3,
            label=f"|scores|: CMD {result.cmd:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel(f"fraction of {result.level}s kept ({result.rounding} rounding)")
    ax.set_ylabel(f"faithfulness ({result.metric}, {result.ablation})")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_box(values: Mapping[str, Sequence[float]], path: PathLike, metric: str, title: Optional[str] = None) -> Path:
    """One box per method (its scores over cases), the cases drawn as points over the box."""
    fig = Figure(figsize=(max(4.0, 0.8 * len(values) + 2), 4))
    ax = fig.add_subplot(1, 1, 1)
    labels = list(values)
    ax.boxplot([list(values[m]) for m in labels], showmeans=True)
    for i, m in enumerate(labels, start=1):
        ax.scatter([i] * len(values[m]), list(values[m]), s=8, alpha=0.5, color="black", zorder=3)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=45, ha="right")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    return _save(fig, path)
