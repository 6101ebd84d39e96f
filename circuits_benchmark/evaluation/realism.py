"""Realism of a model's circuit: the effect of ablating each node on its own.

For a realistic benchmark model, nodes of the true circuit should matter and nodes outside it
should not (InterpBench's strict-accuracy idea, read through the task metric). For every head /
MLP node, all its outgoing edges are patched at once from the ablation source (resample
ablation = ``patching`` by default) and the task metric is measured, all nodes in batched engine
passes.

Effect (larger = the node matters more):

* divergence metrics (kl, l2): ``m(node ablated) - m(full)`` (``m(full) = 0``);
* score metrics (logit_diff, prob_diff, accuracy): ``m(full) - m(node ablated)``.

Each row also gives the accuracy with the node ablated (share of counted positions whose output
is unchanged; numerical tasks: within 0.05 of the clean output), which compares across models
whose logits have different scales (a Tracr model vs an SIIT-trained one). ``input`` (the
embeddings) is left out by default: it is in every circuit; ``logits`` has no output to ablate.

``circuit_score`` is the other direction, InterpBench's node realism: keep a node set (the true
circuit's, or a discovered circuit's) and ablate every other head and MLP at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from circuits_benchmark.graph import Circuit, NodeKind, evaluate_edge_masks
from circuits_benchmark.metrics import outputs_match
from circuits_benchmark.tasks import PatchingTask

DIVERGENCES = ("kl", "l2")


@dataclass
class NodeEffect:
    """Ablating one node: its effect on the metric, the metric and the accuracy with it ablated."""

    node: str
    effect: float
    metric_value: float
    accuracy: float
    in_circuit: Optional[bool] = None


@dataclass
class RealismSummary:
    """Per-node effects of one model, split into true-circuit and other nodes."""

    model: str
    metric: str
    ablation: str
    rows: list[NodeEffect]
    mean_effect_circuit: float
    mean_effect_outside: float
    max_effect_outside: float
    min_accuracy_outside: float

    def to_dict(self) -> dict:
        return asdict(self)


def _effect(values: torch.Tensor, m_full: float, metric: str) -> torch.Tensor:
    return values - m_full if metric in DIVERGENCES else m_full - values


def ablatable_nodes(task: PatchingTask, include_input: bool = False) -> list[str]:
    """Names of the heads and MLPs (and ``input`` if asked) of the task's model."""
    kinds = (NodeKind.ATTENTION, NodeKind.MLP) + ((NodeKind.INPUT,) if include_input else ())
    return [n.name for n in task.graph().nodes if n.kind in kinds]


def node_realism(task: PatchingTask, ablation: str = "patching", metric: Optional[str] = None,
                 nodes: Optional[Sequence[str]] = None, include_input: bool = False,
                 circuits_per_batch: int = 16, progress: bool = True) -> list[NodeEffect]:
    """Effect of ablating each node alone (one batched evaluation over all nodes)."""
    graph = task.graph()
    metric = metric or task.default_metric
    names = list(nodes) if nodes is not None else ablatable_nodes(task, include_input)
    node_masks = torch.ones(len(names) + 1, graph.n_nodes)
    for row, name in enumerate(names, start=1):
        node = graph.node(name)
        if node.kind is NodeKind.LOGITS:
            raise ValueError("logits has no output to ablate")
        node_masks[row, node.index] = 0.0
    edge_masks = graph.node_mask_to_edge_mask(node_masks)

    def both(logits: torch.Tensor) -> torch.Tensor:
        return torch.stack([task.metric(logits, metric), task.metric(logits, "accuracy")], dim=-1)

    values = evaluate_edge_masks(task.model, graph, task.clean_tokens, edge_masks, task.source(ablation), both,
                                 attention_mask=task.clean_mask, circuits_per_batch=circuits_per_batch,
                                 progress=progress).detach().cpu().to(torch.float64)
    m_full = float(values[0, 0])
    effects = _effect(values[1:, 0], m_full, metric)
    return [NodeEffect(name, float(e), float(v), float(a))
            for name, e, v, a in zip(names, effects, values[1:, 0], values[1:, 1])]


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan


def gt_node_realism(task: PatchingTask, truth: Union[Circuit, Sequence[str]], ablation: str = "patching",
                    metric: Optional[str] = None, model_name: str = "model", circuits_per_batch: int = 16,
                    progress: bool = True) -> RealismSummary:
    """``node_realism`` with each node flagged as in / out of the true circuit, and summaries.

    ``truth`` is a Circuit on the task's graph or a list of MIB edge names (e.g.
    ``compiled.alignment_for(model).mib_edges(ablation)``).
    """
    graph = task.graph()
    if not isinstance(truth, Circuit):
        truth = Circuit.from_edges(graph, list(truth))
    elif truth.graph.cfg != graph.cfg:
        raise ValueError(f"truth graph {truth.graph.cfg} does not fit the model's {graph.cfg}")
    metric = metric or task.default_metric
    rows = node_realism(task, ablation, metric, circuits_per_batch=circuits_per_batch, progress=progress)
    inside = {graph.nodes[i].name for i in torch.nonzero(truth.node_in_graph).flatten().tolist()}
    for row in rows:
        row.in_circuit = row.node in inside
    out_rows = [r for r in rows if not r.in_circuit]
    return RealismSummary(
        model=model_name, metric=metric, ablation=ablation, rows=rows,
        mean_effect_circuit=_mean([r.effect for r in rows if r.in_circuit]),
        mean_effect_outside=_mean([r.effect for r in out_rows]),
        max_effect_outside=max((r.effect for r in out_rows), default=math.nan),
        min_accuracy_outside=min((r.accuracy for r in out_rows), default=math.nan),
    )


def realism_table(tasks: Mapping[str, PatchingTask], truth_edges: Union[Sequence[str], Mapping[str, Sequence[str]]],
                  ablation: str = "patching", metric: Optional[str] = None,
                  progress: bool = True) -> tuple[list[dict], list[RealismSummary]]:
    """Per-node rows comparing several models (e.g. ``{"tracr": ..., "siit": ...}``) on the same case.

    ``truth_edges``: MIB edge names of the true circuit, shared by every model or one list per model
    (an InterpBench-shaped model may hold a node elsewhere than the Tracr model; see
    ``CompiledCase.alignment_for``).

    Each row: ``node``, ``in_circuit``, and ``{model}_effect`` / ``{model}_accuracy`` (None where a
    model lacks the node, e.g. extra heads of a wider SIIT model).
    """
    def truth_of(name: str) -> Sequence[str]:
        return truth_edges[name] if isinstance(truth_edges, Mapping) else truth_edges

    summaries = [gt_node_realism(task, truth_of(name), ablation, metric, name, progress=progress)
                 for name, task in tasks.items()]
    table: dict[str, dict] = {}
    for summary in summaries:
        for r in summary.rows:
            row = table.setdefault(r.node, {"node": r.node, "in_circuit": r.in_circuit})
            row[f"{summary.model}_effect"] = r.effect
            row[f"{summary.model}_accuracy"] = r.accuracy
    rows = list(table.values())
    for row in rows:
        for s in summaries:
            row.setdefault(f"{s.model}_effect", None)
            row.setdefault(f"{s.model}_accuracy", None)
    return rows, summaries


def format_realism_table(rows: list[dict], summaries: Sequence[RealismSummary]) -> str:
    """Aligned plain-text table: one line per node, effect and accuracy per model, then summaries."""
    models = [s.model for s in summaries]
    header = ["node", "circuit"] + [f"{m} {k}" for m in models for k in ("effect", "acc")]
    lines = [header]
    for row in rows:
        cells = [row["node"], "yes" if row["in_circuit"] else "no"]
        for m in models:
            e, a = row[f"{m}_effect"], row[f"{m}_accuracy"]
            cells += ["-" if e is None else f"{e:.4g}", "-" if a is None else f"{a:.1%}"]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    text.append("")
    for s in summaries:
        text.append(f"{s.model}: metric {s.metric}, {s.ablation} ablation; mean effect in circuit "
                    f"{s.mean_effect_circuit:.4g}, outside {s.mean_effect_outside:.4g} (max {s.max_effect_outside:.4g}); "
                    f"min accuracy with one outside node ablated {s.min_accuracy_outside:.1%}")
    return "\n".join(text)


# ---------------------------------------------------------------------------- one circuit's nodes at once
@dataclass
class CircuitScore:
    """InterpBench's node realism of one node set: every head / MLP outside it ablated at once.

    ``score`` with ``relative``: the share of compared positions the model got right (vs the
    high-level output) that stay right after the ablation; without: the accuracy after it.
    """

    circuit: str
    ablation: str
    relative: bool
    score: float
    accuracy_before: float
    accuracy_after: float
    n_positions: int
    kept_nodes: list[str]
    ablated_nodes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def matches_reference(task: PatchingTask, logits: torch.Tensor, reference: torch.Tensor,
                      atol: float = 0.05) -> torch.Tensor:
    """Bool ``[batch, pos]``: the output is the reference's (`metrics.outputs_match` for the task's kind)."""
    return outputs_match(logits, reference, task.is_categorical, atol)


def circuit_score(task: PatchingTask, kept: Union[Circuit, Sequence[str]], reference: torch.Tensor,
                  defined: torch.Tensor, ablation: str = "patching", relative: bool = True, atol: float = 0.05,
                  name: str = "circuit") -> CircuitScore:
    """Ablate (``task.source(ablation)``) every head and MLP not in ``kept`` at once, in one engine pass.

    ``kept``: a Circuit on the task's graph (its nodes) or node names. ``reference``: the outputs the
    model should give on the clean inputs (the high-level model's logits), compared at ``defined``
    positions: argmax for categorical tasks, within ``atol`` for numerical ones. This is
    InterpBench's ``get_circuit_score`` (``eval node_realism`` / ``gt_node_realism``): with
    ``relative``, 1 - (right before and wrong after) / (right before); else the accuracy after.
    """
    from circuits_benchmark.graph import patched_forward

    graph = task.graph()
    if isinstance(kept, Circuit):
        if kept.graph.cfg != graph.cfg:
            raise ValueError(f"circuit graph {kept.graph.cfg} does not fit the model's {graph.cfg}")
        kept_names = {graph.nodes[i].name for i in torch.nonzero(kept.node_in_graph).flatten().tolist()}
    else:
        kept_names = set(kept)
        unknown = kept_names - {n.name for n in graph.nodes}
        if unknown:
            raise ValueError(f"unknown nodes {sorted(unknown)}")
    inner = ablatable_nodes(task)
    ablated = [n for n in inner if n not in kept_names]
    node_mask = torch.ones(graph.n_nodes)
    for n in ablated:
        node_mask[graph.node(n).index] = 0.0
    with torch.no_grad():
        logits = patched_forward(task.model, graph, task.clean_tokens, graph.node_mask_to_edge_mask(node_mask),
                                 task.source(ablation), task.clean_mask)

    before = matches_reference(task, task.clean_logits, reference, atol)[defined]
    after = matches_reference(task, logits, reference, atol)[defined]
    n = int(defined.sum())
    if relative:
        kept_right = int(before.sum())
        score = 1.0 - float((before & ~after).sum()) / kept_right if kept_right else math.nan
    else:
        score = float(after.float().mean()) if n else math.nan
    return CircuitScore(circuit=name, ablation=ablation, relative=relative, score=score,
                        accuracy_before=float(before.float().mean()) if n else math.nan,
                        accuracy_after=float(after.float().mean()) if n else math.nan, n_positions=n,
                        kept_nodes=[x for x in inner if x in kept_names], ablated_nodes=ablated)


# ---------------------------------------------------------------------------- many cases
def case_realism(subjects: Mapping[str, Any], n_examples: int = 32, seed: int = 0, ablation: str = "patching",
                 progress: bool = False) -> tuple[list[dict], list[dict]]:
    """Realism of one case's models (e.g. ``{"tracr": ..., "siit": ...}`` `models.Subject`s).

    Returns ``(node rows, summary rows)``: one row per node and model (its effect and the accuracy
    with it ablated, and whether it is in the model's true circuit), and one summary row per model
    with `gt_node_realism`'s summaries and the truth's `circuit_score` (every other node ablated at once).
    """
    node_rows, summary_rows = [], []
    for name, subject in subjects.items():
        task = subject.task(n_examples, seed)
        truth = subject.truth(task.graph(), ablation)
        summary = gt_node_realism(task, truth, ablation, model_name=name, progress=progress)
        reference, defined = subject.reference(task)
        score = circuit_score(task, truth, reference, defined, ablation, relative=True, name="truth")
        for r in summary.rows:
            node_rows.append({"case": subject.case_id, "model": name, **asdict(r)})
        summary_rows.append({
            "case": subject.case_id, "model": name, "metric": summary.metric, "ablation": ablation,
            "n_nodes_circuit": sum(bool(r.in_circuit) for r in summary.rows),
            "n_nodes_outside": sum(not r.in_circuit for r in summary.rows),
            "mean_effect_circuit": summary.mean_effect_circuit, "mean_effect_outside": summary.mean_effect_outside,
            "max_effect_outside": summary.max_effect_outside, "min_accuracy_outside": summary.min_accuracy_outside,
            "truth_score": score.score,
        })
    return node_rows, summary_rows
