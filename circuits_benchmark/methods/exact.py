"""Exact activation patching: the true effect of removing each edge (node, neuron) on its own.

``score(e) = orientation * (m(circuit without e) - m(full model))`` (orientation +1 for KL / L2,
-1 for logit / probability / output differences, see ``eap.py``), signed, for every edge. The
default metric is the task's (KL for categorical tasks, L2 for numerical ones): no gradients are
involved, so the divergence metrics work directly.

All masks run through the patching engine, ``config.batch_size`` circuits per forward pass, the
source activations resolved once. Levels: ``edge`` (one edge patched), ``node`` (every outgoing
edge of a node patched: the node's output replaced everywhere), ``neuron`` (one ``d_model``
dimension of one node's output patched on all its outgoing edges; node scores then come from
patching the whole node). At node / neuron level every edge is scored by its parent node.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import (
    Circuit,
    ComputationalGraph,
    patched_forward,
    resolve_source,
    single_edge_ablation_masks,
)
from circuits_benchmark.methods.base import MethodConfig, discovery_method
from circuits_benchmark.methods.eap import GRADIENT_ABLATIONS, ScoringMetric, node_level_circuit, scoring_metric
from circuits_benchmark.tasks import PatchingTask

Tensor = torch.Tensor
MaskFn = Callable[[Tensor], tuple[Tensor, Optional[Tensor]]]


@torch.no_grad()
def evaluate_masks(task: PatchingTask, graph: ComputationalGraph, metric: ScoringMetric, source: Tensor,
                   n_items: int, make_masks: MaskFn, batch_size: int = 32, progress: bool = True,
                   desc: str = "exact patching") -> Tensor:
    """``metric`` of ``n_items`` patched circuits: ``make_masks(indices) -> (edge [C, E], neuron [C, n, d] | None)``."""
    out = []
    starts = range(0, n_items, max(1, batch_size))
    for start in tqdm(starts, desc=desc, disable=not progress or len(starts) < 4):
        idx = torch.arange(start, min(n_items, start + batch_size))
        edge_masks, neuron_masks = make_masks(idx)
        logits = patched_forward(task.model, graph, task.clean_tokens, edge_masks, source, task.clean_mask, neuron_masks)
        out.append(metric(logits).detach().to(torch.float64).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def _prepare(task: PatchingTask, config: MethodConfig, graph: ComputationalGraph) -> tuple[ScoringMetric, Tensor, float]:
    metric = scoring_metric(task, config.metric, gradient=False)
    source = resolve_source(task.model, graph, task.source(config.ablation), tuple(task.clean_tokens.shape),
                            progress=config.progress)
    ones = graph.full_edge_mask(device=source.device, dtype=source.dtype).unsqueeze(0)
    with torch.no_grad():
        baseline = float(metric(patched_forward(task.model, graph, task.clean_tokens, ones, source, task.clean_mask))[0])
    return metric, source, baseline


def exact_edge_scores(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Tensor:
    """``[n_edges]`` signed importance of patching each edge alone."""
    metric, source, baseline = _prepare(task, config, graph)

    def masks(idx: Tensor) -> tuple[Tensor, None]:
        return single_edge_ablation_masks(graph, idx, dtype=source.dtype, device=source.device), None

    values = evaluate_masks(task, graph, metric, source, graph.n_edges, masks, config.batch_size, config.progress)
    return metric.orientation * (values - baseline)


def exact_node_scores(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig,
                      prepared: Optional[tuple[ScoringMetric, Tensor, float]] = None) -> Tensor:
    """``[n_nodes]`` signed importance of patching each node's output everywhere (NaN for logits)."""
    metric, source, baseline = prepared or _prepare(task, config, graph)
    node_rows = torch.tensor([n.index for n in graph.upstream_nodes], dtype=torch.long)

    def masks(idx: Tensor) -> tuple[Tensor, None]:
        node_mask = torch.ones(len(idx), graph.n_nodes, device=source.device, dtype=source.dtype)
        node_mask[torch.arange(len(idx)), node_rows[idx].to(source.device)] = 0.0
        return graph.node_mask_to_edge_mask(node_mask), None

    values = evaluate_masks(task, graph, metric, source, graph.n_upstream, masks, config.batch_size,
                            config.progress, "exact node patching")
    scores = torch.full((graph.n_nodes,), math.nan, dtype=torch.float64)
    scores[node_rows] = metric.orientation * (values - baseline)
    return scores


def exact_neuron_scores(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig,
                        prepared: Optional[tuple[ScoringMetric, Tensor, float]] = None) -> Tensor:
    """``[n_upstream, d_model]`` signed importance of patching one output dimension of one node."""
    metric, source, baseline = prepared or _prepare(task, config, graph)
    d = graph.cfg.d_model

    def masks(idx: Tensor) -> tuple[Tensor, Tensor]:
        edge_masks = torch.ones(len(idx), graph.n_edges, device=source.device, dtype=source.dtype)
        neuron_masks = torch.ones(len(idx), graph.n_upstream * d, device=source.device, dtype=source.dtype)
        neuron_masks[torch.arange(len(idx)), idx.to(source.device)] = 0.0
        return edge_masks, neuron_masks.view(len(idx), graph.n_upstream, d)

    values = evaluate_masks(task, graph, metric, source, graph.n_upstream * d, masks, config.batch_size,
                            config.progress, "exact neuron patching")
    return (metric.orientation * (values - baseline)).view(graph.n_upstream, d)


@discovery_method("exact", "exact activation patching: the metric change from patching each edge / node / neuron alone",
                  levels=("edge", "node", "neuron"), ablations=GRADIENT_ABLATIONS)
def exact(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    if config.level == "edge":
        return Circuit.from_scores(graph, exact_edge_scores(task, graph, config))
    prepared = _prepare(task, config, graph)
    node_scores = exact_node_scores(task, graph, config, prepared)
    if config.level == "node":
        return node_level_circuit(graph, node_scores)
    return node_level_circuit(graph, node_scores, neuron_scores=exact_neuron_scores(task, graph, config, prepared))
