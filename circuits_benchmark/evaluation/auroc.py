"""ROC analysis of a method's scores against the ground-truth circuit.

Two AUROC definitions are reported, and always named:

* ``rank`` (the clean definition): scikit-learn's ``roc_auc_score`` over *all* items, with the
  item's raw ``|score|`` as the classifier output and membership of the true circuit as the label.
  Ties get the usual half credit (sklearn). NaN scores (unscored items) rank below every scored one.
* ``mib`` (MIB circuit track's InterpBench AUROC): at each budget fraction p in
  0.1%, 0.2%, ..., 100% of the edges, build the *greedy* circuit (``Circuit.greedy``: grown from
  ``logits`` backwards by best ``|score|``, then pruned), compare it edge by edge with the truth to
  get one (FPR, TPR) point, and integrate the points with the trapezoid rule in budget order,
  x normalised by the last point's FPR, without sorting and without (0, 0) / (1, 1) anchors, as
  MIB's ``print_results.area_under_curve`` does. MIB's greedy loop takes the float budget
  ``p * n`` and adds edges while it is positive, i.e. ``ceil(p * n)`` edges; so do we.
  ``anchored=True`` gives the monotone variant (sorted by FPR, anchored at (0,0) and (1,1)).

Levels:

* ``edge``: one item per graph edge (q/k/v inputs of a head are separate edges).
* ``head``: q/k/v collapsed: one item per (parent node, child node) pair. A pair is true if any
  of its q/k/v edges is in the truth; its score is the max ``|score|`` of its edges. Use this
  when the truth is only known per head (InterpBench's SIIT models are trained per head).
* ``node``: one item per head / MLP node. ``input`` and ``logits`` are EXCLUDED: they belong to
  every circuit at node level (MIB convention: logits always in the graph; the input node is the
  source of every path), so they carry no information and would only inflate the AUROC. A node
  is true if it is in the true circuit's nodes (touched by a true edge). Its score is the method's
  ``node_scores`` if it has finite ones for every head / MLP, else the max ``|score|`` over the
  node's incoming and outgoing edges.

A truth that is empty, or that contains every item, at the chosen level makes ROC meaningless:
:class:`DegenerateTruthError` is raised instead of returning a number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from circuits_benchmark.graph import Circuit, ComputationalGraph, NodeKind

MIB_BUDGETS: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
LEVELS = ("edge", "head", "node")
UNSCORED = -1.0  # stands for NaN scores: below every |score|


class DegenerateTruthError(ValueError):
    """The ground truth has no positives or no negatives at the evaluated level."""


@dataclass
class RocResult:
    """An AUROC with the curve it came from.

    Attributes:
        auroc: area under the ROC curve.
        variant: ``rank`` (sklearn over raw scores) or ``mib`` (greedy budgets) / ``mib_anchored``.
        level: ``edge``, ``head`` or ``node``.
        fpr, tpr: the curve's points (for ``mib``: one per budget, in budget order).
        n_positive, n_negative: true / false items at this level.
        budgets: for ``mib``: the fractions and the edge counts used.
    """

    auroc: float
    variant: str
    level: str
    fpr: list[float]
    tpr: list[float]
    n_positive: int
    n_negative: int
    budgets: list[float] = field(default_factory=list)
    n_edges: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- labels and scores
def _check_same_graph(circuit: Circuit, truth: Circuit) -> None:
    if circuit.graph.cfg != truth.graph.cfg:
        raise ValueError(f"circuit graph {circuit.graph.cfg} differs from the truth's {truth.graph.cfg}")


def _abs_scores(scores: torch.Tensor) -> np.ndarray:
    """``|scores|`` as float64 numpy, NaN -> :data:`UNSCORED`."""
    out = scores.detach().cpu().to(torch.float64).abs().numpy().copy()
    if np.isinf(out).any():
        raise ValueError(f"{int(np.isinf(out).sum())} scores are infinite; ROC needs finite scores "
                         "(circuit files with non-finite scores are refused when read)")
    out[np.isnan(out)] = UNSCORED
    return out


def pair_labels_and_scores(circuit: Circuit, truth: Circuit) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Head level: per (parent, child node) pair, truth label (any q/k/v edge true) and max |score|."""
    _check_same_graph(circuit, truth)
    pair_index, pairs = circuit.graph.node_pair_index
    n = len(pairs)
    labels = torch.zeros(n, dtype=torch.float64).index_add_(0, pair_index, truth.edge_in_graph.double()) > 0
    scores = torch.from_numpy(_abs_scores(circuit.edge_scores))
    pair_scores = torch.full((n,), UNSCORED, dtype=torch.float64).scatter_reduce_(0, pair_index, scores, "amax")
    names = [f"{p}->{c}" for p, c in pairs]
    return labels.numpy(), pair_scores.numpy(), names


def edge_labels_and_scores(circuit: Circuit, truth: Circuit, level: str = "edge") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labels (in the truth?), scores (|score|, NaN -> -1) and item names at ``edge`` or ``head`` level."""
    _check_same_graph(circuit, truth)
    if level == "edge":
        return truth.edge_in_graph.numpy().copy(), _abs_scores(circuit.edge_scores), circuit.graph.edge_names()
    if level == "head":
        return pair_labels_and_scores(circuit, truth)
    raise ValueError(f"unknown edge level {level!r}; use edge or head (node: node_labels_and_scores)")


def inner_nodes(graph: ComputationalGraph) -> list[int]:
    """Indices of the head and MLP nodes (everything but ``input`` and ``logits``)."""
    return [n.index for n in graph.nodes if n.kind in (NodeKind.ATTENTION, NodeKind.MLP)]


def node_scores_of(circuit: Circuit) -> torch.Tensor:
    """``[n_nodes]`` node scores: the method's (if finite on every head / MLP), else max |score| of incident edges."""
    graph = circuit.graph
    inner = torch.tensor(inner_nodes(graph), dtype=torch.long)
    if circuit.node_scores is not None and bool(torch.isfinite(circuit.node_scores[inner]).all()):
        return circuit.node_scores.abs()
    scores = torch.from_numpy(_abs_scores(circuit.edge_scores))
    out = torch.full((graph.n_nodes,), UNSCORED, dtype=torch.float64)
    out.scatter_reduce_(0, graph.edge_parent, scores, "amax")
    out.scatter_reduce_(0, graph.edge_child, scores, "amax")
    return out


def node_labels_and_scores(circuit: Circuit, truth: Circuit) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Node level over heads and MLPs only (``input`` / ``logits`` excluded, see module docstring)."""
    _check_same_graph(circuit, truth)
    inner = inner_nodes(circuit.graph)
    labels = truth.node_in_graph.numpy()[inner].copy()
    scores = node_scores_of(circuit).numpy()[inner].copy()
    names = [circuit.graph.nodes[i].name for i in inner]
    return labels, scores, names


def labels_and_scores(circuit: Circuit, truth: Circuit, level: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if level == "node":
        return node_labels_and_scores(circuit, truth)
    return edge_labels_and_scores(circuit, truth, level)


def _check_labels(labels: np.ndarray, level: str) -> tuple[int, int]:
    n_pos = int(labels.sum())
    n_neg = int(len(labels) - n_pos)
    if n_pos == 0:
        raise DegenerateTruthError(f"the true circuit has no {level}s among the {len(labels)} evaluated: AUROC undefined")
    if n_neg == 0:
        raise DegenerateTruthError(f"the true circuit contains all {len(labels)} {level}s: AUROC undefined")
    return n_pos, n_neg


# ---------------------------------------------------------------------------- rank AUROC
def rank_auroc_from_labels(labels: np.ndarray, scores: np.ndarray, level: str = "edge") -> RocResult:
    """sklearn AUROC of ``scores`` against boolean ``labels`` (ties: half credit)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
    n_pos, n_neg = _check_labels(labels, level)
    auc = float(roc_auc_score(labels, scores))
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return RocResult(auc, "rank", level, fpr.tolist(), tpr.tolist(), n_pos, n_neg)


def rank_auroc(circuit: Circuit, truth: Circuit, level: str = "edge") -> RocResult:
    """Rank-based AUROC of the circuit's raw |scores| at ``edge``, ``head`` or ``node`` level."""
    labels, scores, _ = labels_and_scores(circuit, truth, level)
    return rank_auroc_from_labels(labels, scores, level)


# ---------------------------------------------------------------------------- MIB AUROC
def mib_area(fpr: Sequence[float], tpr: Sequence[float]) -> float:
    """MIB's ``area_under_curve``: trapezoids in the given order, x divided by the last x."""
    last = fpr[-1]
    if last == 0:
        raise DegenerateTruthError("the largest budget has FPR 0: MIB's AUROC normalisation is undefined")
    area = 0.0
    for i in range(len(fpr) - 1):
        area += (fpr[i + 1] - fpr[i]) / last * (tpr[i + 1] + tpr[i]) / 2.0
    return float(area)


def anchored_area(fpr: Sequence[float], tpr: Sequence[float]) -> float:
    """Trapezoid area of the points sorted by (FPR, TPR), anchored at (0, 0) and (1, 1)."""
    pts = sorted(zip(fpr, tpr))
    xs = [0.0] + [p[0] for p in pts] + [1.0]
    ys = [0.0] + [p[1] for p in pts] + [1.0]
    return float(sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2.0 for i in range(len(xs) - 1)))


def mib_auroc(circuit: Circuit, truth: Circuit, level: str = "edge", budgets: Sequence[float] = MIB_BUDGETS,
              absolute: bool = True, anchored: bool = False) -> RocResult:
    """MIB's greedy-budget AUROC (see module docstring); ``level`` ``edge`` or ``head``.

    At ``head`` level, a greedy circuit's (parent, child) pairs are compared with the truth's.
    """
    if level not in ("edge", "head"):
        raise ValueError(f"MIB AUROC is defined over edges; level {level!r} not supported (use edge or head)")
    labels, _, _ = edge_labels_and_scores(circuit, truth, level)
    n_pos, n_neg = _check_labels(labels, level)
    n_total = circuit.graph.n_edges
    pair_index, _ = circuit.graph.node_pair_index
    fpr, tpr, counts = [], [], []
    scored = Circuit(circuit.graph, circuit.edge_scores, torch.ones(n_total, dtype=torch.bool))
    for p in budgets:
        n = min(n_total, int(math.ceil(p * n_total - 1e-9)))
        selected = scored.greedy(n, absolute=absolute, prune=True).edge_in_graph
        if level == "head":
            selected = torch.zeros(len(labels), dtype=torch.float64).index_add_(0, pair_index, selected.double()) > 0
        sel = selected.numpy()
        tp = int((sel & labels).sum())
        fp = int((sel & ~labels).sum())
        tpr.append(tp / n_pos)
        fpr.append(fp / n_neg)
        counts.append(n)
    area = anchored_area(fpr, tpr) if anchored else mib_area(fpr, tpr)
    return RocResult(area, "mib_anchored" if anchored else "mib", level, fpr, tpr, n_pos, n_neg,
                     list(budgets), counts)


# ---------------------------------------------------------------------------- report
def auroc_report(circuit: Circuit, truth: Circuit, head_level_truth: bool = False) -> dict[str, Optional[float]]:
    """Every AUROC of a scored circuit against the truth, keyed ``auroc_{variant}_{level}``.

    ``auroc`` repeats the headline number: ``rank`` at ``head`` level if ``head_level_truth``
    (e.g. SIIT models, whose truth is per head), else at ``edge`` level. With ``head_level_truth``,
    ``auroc_induced_head`` scores against every edge among the true circuit's nodes
    (`Circuit.node_induced`): IIT training fixes which nodes compute the circuit, not which paths
    between them the model uses. Levels whose truth is
    degenerate give None (the others are still reported); if the headline one is degenerate,
    :class:`DegenerateTruthError` is raised.
    """
    out: dict[str, Optional[float]] = {}
    for level in LEVELS:
        try:
            out[f"auroc_rank_{level}"] = rank_auroc(circuit, truth, level).auroc
        except DegenerateTruthError:
            out[f"auroc_rank_{level}"] = None
    for level in ("edge", "head"):
        try:
            out[f"auroc_mib_{level}"] = mib_auroc(circuit, truth, level).auroc
        except DegenerateTruthError:
            out[f"auroc_mib_{level}"] = None
    if head_level_truth:  # a trained model: its nodes are known, the paths between them are not
        try:
            out["auroc_induced_head"] = rank_auroc(circuit, truth.node_induced(), "head").auroc
        except DegenerateTruthError:
            out["auroc_induced_head"] = None
    headline = "head" if head_level_truth else "edge"
    if out[f"auroc_rank_{headline}"] is None:
        rank_auroc(circuit, truth, headline)  # raises with the reason
    out["auroc"] = out[f"auroc_rank_{headline}"]
    return out


# ---------------------------------------------------------------------------- one circuit vs the truth
def confusion(hypothesis: Circuit, truth: Circuit, level: str = "edge") -> dict:
    """TP / FP / FN / TN, TPR and FPR of a circuit's membership against the truth at ``edge``,
    ``head`` (q/k/v collapsed) or ``node`` (heads and MLPs) level (None where undefined)."""
    _check_same_graph(hypothesis, truth)
    graph = hypothesis.graph
    if level == "edge":
        pred, lab = hypothesis.edge_in_graph.clone(), truth.edge_in_graph.clone()
    elif level == "head":
        pair_index, pairs = graph.node_pair_index

        def collapse(edges: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(pairs), dtype=torch.float64).index_add_(0, pair_index, edges.double()) > 0

        pred, lab = collapse(hypothesis.edge_in_graph), collapse(truth.edge_in_graph)
    elif level == "node":
        inner = torch.tensor(inner_nodes(graph), dtype=torch.long)
        pred, lab = hypothesis.node_in_graph[inner], truth.node_in_graph[inner]
    else:
        raise ValueError(f"unknown level {level!r}; use edge, head or node")
    tp, fp = int((pred & lab).sum()), int((pred & ~lab).sum())
    fn, tn = int((~pred & lab).sum()), int((~pred & ~lab).sum())
    return {"level": level, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "tpr": tp / (tp + fn) if tp + fn else None, "fpr": fp / (fp + tn) if fp + tn else None}
