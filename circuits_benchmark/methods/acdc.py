"""ACDC (Conmy et al. 2023): greedy pruning of edges (or nodes) in reverse topological order.

Algorithm for one threshold ``tau`` (edge level). ``loss`` is the task metric as a lower-is-better
objective (KL / L2 by default; negated logit_diff, prob_diff, accuracy), measured on the clean
inputs with removed edges patched from the ablation source::

    mask = all edges kept; cur = loss(mask)
    for node in reversed(topological order):           # logits first
        if node has no kept path to logits: remove all its incoming edges (no evaluation); continue
        for edge in incoming edges (q, k, v inputs in turn; latest parent first):
            new = loss(mask without edge)
            if new - cur < tau: remove edge for good; cur = new

Batching (``exact speculation``): the candidate edges of one node are evaluated in windows of up
to ``config.batch_size`` circuits per forward pass. Within a window the masks follow a *predicted*
chain of decisions: candidate ``j``'s mask removes the candidates before it that are predicted
removed, plus ``j`` itself. Walking the window in order, each value is exactly what the sequential
algorithm would evaluate as long as all earlier predictions held, so each decision is the
sequential one; at the first wrong prediction the decision is committed and a new window starts
after it. Predictions come from the latest estimate of each candidate's effect (``value - value of
its chain predecessor``); candidates without an estimate are predicted kept, so the first window is
the plain batch of independent single-edge removals. The result therefore EQUALS the sequential
algorithm (up to floating-point differences between batched and single forward passes), at a cost
of (1 + number of mispredictions) passes per node instead of one pass per edge. The literal
one-forward-per-edge variant is ``extra={"sequential": True}``.

Node level: the same procedure over upstream nodes (removing a node patches all its outgoing
edges), in reverse topological order; nodes with no kept path to logits are removed unevaluated.

Threshold sweep -> scores. ``config.thresholds`` (default: auto-circuit's 20 values
``{1,3,5,7,9} x 10^{-5..-2}``) are run independently (each from the full model) unless
``extra={"nested": True}``, which runs them in increasing order, each starting from the previous
circuit (guaranteeing nested circuits). Score of an edge = the largest swept ``tau`` such that the
edge is in the (pruned) circuit at every swept threshold ``<= tau``; an edge removed already at
the smallest threshold scores ``0`` (or ``min(taus) - 1`` if the sweep has thresholds <= 0).
Hence ``circuit.threshold(tau_j)`` returns the intersection of the sweep circuits at thresholds
``<= tau_j``, which is exactly the circuit at ``tau_j`` whenever the sweep is nested (always with
``nested``; with independent runs, ACDC's path dependence can make a circuit at a larger tau
contain an edge a smaller tau removed — that edge is then scored by the smaller tau).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import Circuit, ComputationalGraph, NodeKind, patched_forward, prune_edges
from circuits_benchmark.methods.base import MethodConfig, discovery_method
from circuits_benchmark.methods.optimal_ablation import method_loss, method_source, node_to_edge_scores
from circuits_benchmark.tasks import PatchingTask

Tensor = torch.Tensor
Evaluate = Callable[[Tensor], Tensor]  # [C, n_edges] masks -> [C] losses (float64, cpu)

DEFAULT_THRESHOLDS: list[float] = sorted(b * 10.0 ** e for e in range(-5, -1) for b in (1, 3, 5, 7, 9))


# ---------------------------------------------------------------------------- evaluation
def make_evaluator(task: PatchingTask, graph: ComputationalGraph, source: Tensor, metric: Optional[str],
                   circuits_per_batch: int) -> tuple[Evaluate, list[int]]:
    """A batched loss function over edge masks, and a one-element list counting patched forwards."""
    loss_fn = method_loss(task, metric)
    counter = [0]

    @torch.no_grad()
    def evaluate(masks: Tensor) -> Tensor:
        out = []
        for start in range(0, masks.shape[0], circuits_per_batch):
            chunk = masks[start:start + circuits_per_batch].to(device=source.device, dtype=source.dtype)
            logits = patched_forward(task.model, graph, task.clean_tokens, chunk, source, task.clean_mask)
            out.append(loss_fn(logits).to(torch.float64).cpu())
            counter[0] += 1
        return torch.cat(out)

    return evaluate, counter


# ---------------------------------------------------------------------------- greedy removal
def greedy_removal(candidates: Sequence[Tensor], mask: Tensor, cur: float, tau: float, evaluate: Evaluate,
                   window: int, is_dead: Optional[Callable[[int, Tensor], bool]] = None) -> tuple[Tensor, float]:
    """ACDC's in-order greedy removal of candidate edge groups, with exact speculative batching.

    Args:
        candidates: edge-index tensors; removing candidate ``j`` zeroes ``mask[candidates[j]]``.
        mask: ``[n_edges]`` current mask (not modified); ``cur``: its loss.
        window: candidates evaluated per batched pass (1 = the literal sequential algorithm).
        is_dead: ``is_dead(j, mask)`` -> remove candidate ``j`` without evaluating it.

    Returns:
        The final mask and its loss. Decisions equal the sequential algorithm's (see module doc).
    """
    mask = mask.clone()
    n = len(candidates)
    estimate: list[Optional[float]] = [None] * n
    i = 0
    while i < n:
        end = min(n, i + max(1, window))
        chain = mask.clone()
        trials: list[Optional[Tensor]] = []   # per candidate: its trial mask, None if dead
        predicted: list[bool] = []
        for j in range(i, end):
            trial = chain.clone()
            trial[candidates[j]] = 0.0
            dead = is_dead is not None and is_dead(j, chain)
            trials.append(None if dead else trial)
            pred = dead or (estimate[j] is not None and estimate[j] < tau)
            predicted.append(pred)
            if pred:
                chain = trial
        live = [t for t in trials if t is not None]
        values = evaluate(torch.stack(live)).tolist() if live else []
        # estimates along the predicted chain (used for the next windows' predictions)
        chain_loss, k = cur, 0
        chain_values: list[Optional[float]] = []
        for offset, trial in enumerate(trials):
            if trial is None:
                chain_values.append(None)
                continue
            value = values[k]
            k += 1
            chain_values.append(value)
            estimate[i + offset] = value - chain_loss
            if predicted[offset]:
                chain_loss = value
        # walk: decisions are exact while predictions hold
        next_i = end
        for offset in range(end - i):
            j = i + offset
            value = chain_values[offset]
            remove = True if value is None else (value - cur) < tau
            if remove:
                mask[candidates[j]] = 0.0
                if value is not None:
                    cur = value
            if remove != predicted[offset]:
                next_i = j + 1
                break
        i = next_i
    return mask, cur


def _reaches_logits(graph: ComputationalGraph, mask: Tensor) -> np.ndarray:
    """Bool ``[n_nodes]``: a kept-edge path leads from the node to logits."""
    kept = mask.detach().cpu().numpy() > 0
    parent, child = graph.edge_parent.numpy(), graph.edge_child.numpy()
    reach = np.zeros(graph.n_nodes, dtype=bool)
    reach[graph.node_index("logits")] = True
    order = np.argsort(-parent, kind="stable")  # later parents first: their children are settled
    for e in order:
        if kept[e] and reach[child[e]]:
            reach[parent[e]] = True
    return reach


def _incoming_order(graph: ComputationalGraph, node_index: int) -> Tensor:
    """Incoming edges of a node: by downstream input (q, k, v), latest parent first."""
    edges = torch.nonzero(graph.edge_child == node_index).flatten()
    keys = graph.edge_downstream[edges] * (graph.n_nodes + 1) + (graph.n_nodes - graph.edge_parent[edges])
    return edges[torch.argsort(keys)]


# ---------------------------------------------------------------------------- one threshold
def run_acdc_edges(graph: ComputationalGraph, evaluate: Evaluate, tau: float, window: int,
                   start_mask: Optional[Tensor] = None, progress: bool = False) -> Tensor:
    """Edge-level ACDC at one threshold; returns the float ``[n_edges]`` mask (not pruned)."""
    mask = graph.full_edge_mask() if start_mask is None else start_mask.clone().float()
    cur = float(evaluate(mask[None])[0])
    nodes = [n for n in reversed(graph.nodes) if n.kind is not NodeKind.INPUT]
    for node in tqdm(nodes, desc=f"ACDC tau={tau:.2g}", disable=not progress, leave=False):
        incoming = _incoming_order(graph, node.index)
        incoming = incoming[mask[incoming] > 0]
        if len(incoming) == 0:
            continue
        if not _reaches_logits(graph, mask)[node.index]:
            mask[incoming] = 0.0
            continue
        mask, cur = greedy_removal([e.reshape(1) for e in incoming], mask, cur, tau, evaluate, window)
    return mask


def run_acdc_nodes(graph: ComputationalGraph, evaluate: Evaluate, tau: float, window: int,
                   start_nodes: Optional[Tensor] = None) -> Tensor:
    """Node-level ACDC at one threshold; returns the float ``[n_nodes]`` node mask (logits = 1)."""
    node_mask = torch.ones(graph.n_nodes) if start_nodes is None else start_nodes.clone().float()
    order = [n for n in reversed(graph.upstream_nodes) if node_mask[n.index] > 0]
    candidates = [graph.edges_out_of(n) for n in order]
    mask = graph.node_mask_to_edge_mask(node_mask)
    cur = float(evaluate(mask[None])[0])

    def is_dead(j: int, current: Tensor) -> bool:
        return not _reaches_logits(graph, current)[order[j].index]

    mask, _ = greedy_removal(candidates, mask, cur, tau, evaluate, window, is_dead)
    for node, edges in zip(order, candidates):
        if not bool((mask[edges] > 0).any()):
            node_mask[node.index] = 0.0
    return node_mask


def acdc_circuit(task: PatchingTask, graph: Optional[ComputationalGraph] = None, tau: float = 0.01,
                 config: Optional[MethodConfig] = None, source: Optional[Tensor] = None) -> Circuit:
    """The ACDC circuit at one threshold (pruned), at ``config.level`` (edge or node)."""
    graph = graph or task.graph()
    config = config or MethodConfig()
    source = method_source(task, graph, config) if source is None else source
    evaluate, _ = make_evaluator(task, graph, source, config.metric, config.batch_size)
    window = 1 if config.extra.get("sequential", False) else config.batch_size
    if config.level == "node":
        node_mask = run_acdc_nodes(graph, evaluate, tau, window)
        edges = prune_edges(graph, graph.node_mask_to_edge_mask(node_mask) > 0)
        return Circuit(graph, edge_in_graph=edges)
    mask = run_acdc_edges(graph, evaluate, tau, window, progress=config.progress)
    return Circuit(graph, edge_in_graph=prune_edges(graph, mask > 0))


# ---------------------------------------------------------------------------- sweep -> scores
def sweep_scores(taus: Sequence[float], kept: Sequence[Tensor]) -> Tensor:
    """Score = largest tau whose circuit and every circuit at a smaller tau keep the unit.

    ``kept[j]`` is the bool membership at ``taus[j]``. Units never kept at the smallest tau get 0
    (``min(taus) - 1`` when some tau <= 0).
    """
    order = np.argsort(np.asarray(taus, dtype=np.float64), kind="stable")
    sorted_taus = [float(taus[j]) for j in order]
    below = 0.0 if sorted_taus[0] > 0 else sorted_taus[0] - 1.0
    scores = torch.full(kept[0].shape, below, dtype=torch.float64)
    alive = torch.ones(kept[0].shape, dtype=torch.bool)
    for j, tau in zip(order, sorted_taus):
        alive &= kept[j].bool()
        scores[alive] = tau
    return scores


@discovery_method(
    "acdc",
    "ACDC: greedy reverse-topological edge pruning at thresholds tau; scores from a tau sweep",
    levels=("edge", "node"),
    ablations=("patching", "mean", "zero", "optimal"),
)
def acdc(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    """ACDC over ``config.thresholds`` (default: 20 auto-circuit values); see module doc for scores.

    ``config.extra``: ``sequential`` (literal one-edge-per-pass variant), ``nested`` (warm-start each
    threshold from the previous circuit). The returned circuit holds every scored edge
    (``Circuit.from_scores``); select with ``threshold(tau)``.
    """
    taus = sorted(float(t) for t in (config.thresholds or DEFAULT_THRESHOLDS))
    source = method_source(task, graph, config)
    evaluate, counter = make_evaluator(task, graph, source, config.metric, config.batch_size)
    window = 1 if config.extra.get("sequential", False) else config.batch_size
    nested = bool(config.extra.get("nested", False))
    kept: list[Tensor] = []
    previous: Optional[Tensor] = None
    bar = tqdm(taus, desc="ACDC sweep", disable=not config.progress)
    for tau in bar:
        if config.level == "node":
            node_mask = run_acdc_nodes(graph, evaluate, tau, window, previous if nested else None)
            previous = node_mask
            edge_kept = prune_edges(graph, graph.node_mask_to_edge_mask(node_mask) > 0)
            node_kept = torch.zeros(graph.n_nodes, dtype=torch.bool)
            node_kept[graph.edge_parent[edge_kept]] = True
            node_kept[graph.node_index("logits")] = True
            kept.append(node_kept)
        else:
            mask = run_acdc_edges(graph, evaluate, tau, window, previous if nested else None)
            previous = mask
            kept.append(prune_edges(graph, mask > 0))
        bar.set_postfix(kept=int(kept[-1].sum()), passes=counter[0])
    scores = sweep_scores(taus, kept)
    if config.level == "node":
        scores[graph.node_index("logits")] = float("nan")
        edge_scores = node_to_edge_scores(graph, torch.nan_to_num(scores, nan=float("inf")))
        return Circuit.from_scores(graph, edge_scores, node_scores=scores)
    return Circuit.from_scores(graph, scores)
