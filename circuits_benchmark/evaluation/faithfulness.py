"""MIB circuit-track faithfulness: f curves over circuit size, CPR and CMD.

For a scored circuit, circuits are built at fractions 0.1%, 0.2%, 0.5%, 1%, 2%, 5%, 10%, 20%,
50% and 100% of the edges (``top_n`` of the ranking, then pruned to input -> logits paths, as
MIB's ``apply_topn(..., prune=True)``), and each is scored by::

    f(C) = (m(C) - m(empty)) / (m(full) - m(empty))

where ``m`` is the task metric (``task.metric``: kl, l2, logit_diff, prob_diff, accuracy), the
full model keeps every edge (= the clean model) and the empty circuit patches every edge from the
ablation source (``task.source``: patching / mean / zero). The empty circuit (fraction 0) is only
the normalising reference, not a curve point (as in MIB).

* CPR (circuit performance ratio, higher is better) = trapezoid area under f over the fractions,
  with edges selected by SIGNED score (``absolute=False``: the most positive scores first).
* CMD (circuit-model difference, 0 is best) = trapezoid area under ``|1 - f|``, with edges
  selected by ABSOLUTE score.

Checked against hannamw/MIB-circuit-track (``evaluate_area_under_curve`` and ``print_results``):
same fractions, same normalisation, same trapezoids with x = the fraction itself (total width
0.999; ``log_scale=True`` gives MIB's optional log-x variant), CPR from the ``absolute=False``
run and CMD from the ``absolute=True`` run, counts ``int(p * n)``. Differences: (1) every circuit
of both curves plus the full and empty references is evaluated in batched engine passes, and
circuits with identical edge sets are evaluated once; (2) pruning is by reachability (see
``circuits_benchmark.graph.circuit``), where EAP-IG's iterative prune may keep a few dangling
edges; (3) ties in the ranking are broken by edge index (MIB: arbitrary).

Divergence metrics (kl, l2): lower is better and ``m(full) = 0``. The formula above is invariant
to negating the metric (numerator and denominator flip sign together), so using ``-D`` as a
"higher is better" metric gives the same ``f = 1 - D(C) / D(empty)``: 1 for a circuit matching
the model, 0 for one as far off as the empty circuit, negative when even further.

Rounding: our Tracr graphs have tens of edges, so ``int(p * n)`` is 0 for the smallest fractions
(e.g. 23 edges: 0, 0, 0, 0, 0, 1, 2, 4, 11, 23 edges): those points are the empty circuit (f = 0).
``rounding="ceil"`` keeps at least one edge for every positive fraction; ``"round"`` rounds to
the nearest count. The counts used are reported with each curve.

Weighted edge counts (MIB's ``weighted_edge_count``): with neuron-level circuits, an edge counts
by the share of its parent's ``d_model`` neurons kept; without neurons, it counts 1. Neuron masks
are NOT applied in these evaluations (edge and node levels only).

Node level (``level="node"``, needs ``node_scores``): the top fraction of the scored head/MLP
nodes is kept; ``input`` and ``logits`` are always kept; an edge is kept iff both its ends are.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import torch

from circuits_benchmark.graph import Circuit, ComputationalGraph, NodeKind, evaluate_edge_masks
from circuits_benchmark.graph.circuit import prune_edges
from circuits_benchmark.tasks import PatchingTask

FRACTIONS: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
ROUNDINGS = ("floor", "ceil", "round")
ABLATIONS = ("patching", "mean", "zero")


class FaithfulnessUndefinedError(ValueError):
    """The empty circuit scores like the full model: f has a zero denominator."""


# ---------------------------------------------------------------------------- pure helpers
def item_count(fraction: float, n_items: int, rounding: str = "floor") -> int:
    """Number of items kept at ``fraction`` of ``n_items`` (``floor`` = MIB's ``int(p * n)``)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} outside [0, 1]")
    x = fraction * n_items
    if rounding == "floor":
        k = int(x + 1e-9)
    elif rounding == "ceil":
        k = int(math.ceil(x - 1e-9))
    elif rounding == "round":
        k = int(math.floor(x + 0.5))
    else:
        raise ValueError(f"unknown rounding {rounding!r}; choose from {', '.join(ROUNDINGS)}")
    return max(0, min(n_items, k))


def area_under_curve(x: Sequence[float], y: Sequence[float], log_scale: bool = False) -> float:
    """Trapezoid area of ``y`` over ``x`` (in the given order; ``log_scale``: over ``log x``)."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} points, y {len(y)}")
    xs = [math.log(v) for v in x] if log_scale else list(x)
    return float(sum((xs[i + 1] - xs[i]) * (y[i] + y[i + 1]) / 2.0 for i in range(len(xs) - 1)))


def cpr(fractions: Sequence[float], faithfulness: Sequence[float], log_scale: bool = False) -> float:
    """Circuit performance ratio: area under f (feed the curve from signed-score selection)."""
    return area_under_curve(fractions, faithfulness, log_scale)


def cmd(fractions: Sequence[float], faithfulness: Sequence[float], log_scale: bool = False) -> float:
    """Circuit-model difference: area under |1 - f| (feed the curve from absolute-score selection)."""
    return area_under_curve(fractions, [abs(1.0 - f) for f in faithfulness], log_scale)


def normalise(values: torch.Tensor, m_full: float, m_empty: float, tol: float = 1e-12) -> torch.Tensor:
    """``(m - m(empty)) / (m(full) - m(empty))``; raises if the denominator vanishes."""
    denom = m_full - m_empty
    if not math.isfinite(denom) or abs(denom) <= tol * max(1.0, abs(m_full), abs(m_empty)):
        raise FaithfulnessUndefinedError(
            f"the empty circuit scores like the full model (m(full)={m_full:.6g}, m(empty)={m_empty:.6g}): "
            "faithfulness undefined for this task / ablation / metric")
    return (values - m_empty) / denom


def weighted_edge_count(circuit: Circuit) -> float:
    """Kept edges, each weighted by the share of its parent's neurons kept (1 without neurons)."""
    if circuit.neuron_in_graph is None:
        return float(circuit.n_edges)
    graph = circuit.graph
    share = circuit.neuron_in_graph.to(torch.float64).mean(-1)  # [n_upstream]
    weights = share[graph.edge_upstream]
    return float(weights[circuit.edge_in_graph].sum())


# ---------------------------------------------------------------------------- circuit selection
def _scored(circuit: Circuit) -> Circuit:
    """The circuit with every edge in the graph (selection starts from the scores)."""
    return Circuit(circuit.graph, circuit.edge_scores, torch.ones(circuit.graph.n_edges, dtype=torch.bool),
                   node_scores=circuit.node_scores, neuron_in_graph=circuit.neuron_in_graph,
                   neuron_scores=circuit.neuron_scores)


def _inner_nodes(graph: ComputationalGraph) -> torch.Tensor:
    return torch.tensor([n.index for n in graph.nodes if n.kind in (NodeKind.ATTENTION, NodeKind.MLP)],
                        dtype=torch.long)


def top_nodes_circuit(circuit: Circuit, n: int, absolute: bool = True, prune: bool = True) -> Circuit:
    """Keep the ``n`` best-scored head/MLP nodes (plus input and logits) and the edges between kept nodes."""
    if circuit.node_scores is None:
        raise ValueError("node-level faithfulness needs node scores; this circuit has none")
    graph = circuit.graph
    inner = _inner_nodes(graph)
    key = circuit.node_scores[inner].abs() if absolute else circuit.node_scores[inner].clone()
    key = torch.nan_to_num(key, nan=-math.inf)
    order = torch.sort(key, descending=True, stable=True).indices
    keep = torch.zeros(graph.n_nodes, dtype=torch.bool)
    keep[inner[order[:n]]] = True
    keep[graph.node_index("input")] = True
    keep[graph.node_index("logits")] = True
    edges = keep[graph.edge_parent] & keep[graph.edge_child]
    if prune:
        edges = prune_edges(graph, edges)
    return circuit.copy(edge_in_graph=edges)


def curve_circuits(circuit: Circuit, fractions: Sequence[float] = FRACTIONS, absolute: bool = True,
                   rounding: str = "floor", level: str = "edge") -> tuple[list[Circuit], list[int]]:
    """The circuits of one faithfulness curve and the number of items requested for each."""
    scored = _scored(circuit)
    if level == "edge":
        n_items = circuit.graph.n_edges
        counts = [item_count(p, n_items, rounding) for p in fractions]
        return [scored.top_n(k, absolute=absolute, prune=True) for k in counts], counts
    if level == "node":
        if circuit.node_scores is None:
            raise ValueError("node-level faithfulness needs node scores; this circuit has none")
        inner = _inner_nodes(circuit.graph)
        n_items = int(torch.isfinite(circuit.node_scores[inner]).sum())
        counts = [item_count(p, n_items, rounding) for p in fractions]
        return [top_nodes_circuit(scored, k, absolute=absolute) for k in counts], counts
    raise ValueError(f"unknown level {level!r}; faithfulness supports edge and node")


# ---------------------------------------------------------------------------- evaluation
def _metric_fn(task: PatchingTask, metric: Optional[str]):
    name = metric or task.default_metric

    def fn(logits: torch.Tensor) -> torch.Tensor:
        return task.metric(logits, name)
    return fn, name


def evaluate_masks(task: PatchingTask, masks: torch.Tensor, metric: Optional[str] = None,
                   ablation: str = "patching", graph: Optional[ComputationalGraph] = None,
                   circuits_per_batch: int = 16, progress: bool = True) -> torch.Tensor:
    """Metric of every edge mask ``[N, n_edges]`` (duplicate rows evaluated once), ``[N]`` float64."""
    if ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r} for evaluation; choose from {', '.join(ABLATIONS)}")
    graph = graph or task.graph()
    fn, _ = _metric_fn(task, metric)
    unique, inverse = torch.unique(masks.to(torch.float32), dim=0, return_inverse=True)
    values = evaluate_edge_masks(task.model, graph, task.clean_tokens, unique, task.source(ablation), fn,
                                 attention_mask=task.clean_mask, circuits_per_batch=circuits_per_batch,
                                 progress=progress)
    return values.detach().cpu().to(torch.float64)[inverse]


def circuit_faithfulness(task: PatchingTask, circuits: Sequence[Circuit], metric: Optional[str] = None,
                         ablation: str = "patching", circuits_per_batch: int = 16,
                         progress: bool = False) -> tuple[list[float], float, float]:
    """Normalised faithfulness of binary circuits, with m(full) and m(empty), in one batched evaluation."""
    if not circuits:
        raise ValueError("no circuits given")
    graph = circuits[0].graph
    masks = torch.stack([torch.ones(graph.n_edges), torch.zeros(graph.n_edges)]
                        + [c.to_edge_mask() for c in circuits])
    values = evaluate_masks(task, masks, metric, ablation, graph, circuits_per_batch, progress)
    m_full, m_empty = float(values[0]), float(values[1])
    return normalise(values[2:], m_full, m_empty).tolist(), m_full, m_empty


@dataclass
class FaithfulnessCurve:
    """One curve: circuits selected by signed (``absolute=False``) or absolute scores."""

    absolute: bool
    fractions: list[float]
    n_requested: list[int]
    n_edges: list[int]
    weighted_edge_counts: list[float]
    metric_values: list[float]
    faithfulness: list[float]
    area: float
    area_from_1: float


@dataclass
class FaithfulnessResult:
    """Both curves of a scored circuit; ``cpr`` from the signed curve, ``cmd`` from the absolute one."""

    metric: str
    ablation: str
    level: str
    rounding: str
    log_scale: bool
    m_full: float
    m_empty: float
    signed: FaithfulnessCurve
    absolute: FaithfulnessCurve
    extra: dict = field(default_factory=dict)

    @property
    def cpr(self) -> float:
        return self.signed.area

    @property
    def cmd(self) -> float:
        return self.absolute.area_from_1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cpr"], d["cmd"] = self.cpr, self.cmd
        return d


def faithfulness_curves(task: PatchingTask, circuit: Circuit, metric: Optional[str] = None,
                        ablation: str = "patching", fractions: Sequence[float] = FRACTIONS,
                        rounding: str = "floor", level: str = "edge", log_scale: bool = False,
                        circuits_per_batch: int = 16, progress: bool = True) -> FaithfulnessResult:
    """MIB faithfulness curves (signed and absolute selection), CPR and CMD of a scored circuit.

    All circuits of both curves plus the full / empty references go through the engine in
    batches of ``circuits_per_batch``.
    """
    _, metric_name = _metric_fn(task, metric)
    fractions = list(fractions)
    signed, n_signed = curve_circuits(circuit, fractions, absolute=False, rounding=rounding, level=level)
    absolute, n_abs = curve_circuits(circuit, fractions, absolute=True, rounding=rounding, level=level)
    graph = circuit.graph
    masks = torch.stack([torch.ones(graph.n_edges), torch.zeros(graph.n_edges)]
                        + [c.to_edge_mask() for c in signed + absolute])
    values = evaluate_masks(task, masks, metric_name, ablation, graph, circuits_per_batch, progress)
    m_full, m_empty = float(values[0]), float(values[1])
    faith = normalise(values[2:], m_full, m_empty)
    k = len(fractions)

    def curve(circuits: list[Circuit], requested: list[int], vals: torch.Tensor, f: torch.Tensor,
              is_abs: bool) -> FaithfulnessCurve:
        fl = f.tolist()
        return FaithfulnessCurve(
            absolute=is_abs, fractions=fractions, n_requested=requested, n_edges=[c.n_edges for c in circuits],
            weighted_edge_counts=[weighted_edge_count(c) for c in circuits], metric_values=vals.tolist(),
            faithfulness=fl, area=cpr(fractions, fl, log_scale), area_from_1=cmd(fractions, fl, log_scale))

    return FaithfulnessResult(
        metric=metric_name, ablation=ablation, level=level, rounding=rounding, log_scale=log_scale,
        m_full=m_full, m_empty=m_empty,
        signed=curve(signed, n_signed, values[2:2 + k], faith[:k], False),
        absolute=curve(absolute, n_abs, values[2 + k:], faith[k:], True),
    )
