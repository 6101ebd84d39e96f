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

Batching (``exact speculation``): the candidate edges of one node are evaluated in windows of
several circuits per forward pass. Within a window the masks follow a *predicted* chain of
decisions: candidate ``j``'s mask removes the candidates before it that are predicted removed, plus
``j`` itself. Walking the window in order, each value is exactly what the sequential algorithm
would evaluate as long as all earlier predictions held, so each decision is the sequential one; at
the first wrong prediction the decision is committed and a new window starts after it.
Predictions come from the latest estimate of each candidate's effect (``value - value of its chain
predecessor``), else from the majority of the decisions so far. Windows adapt (``Speculation``):
they double while predictions hold, up to ``circuits_per_pass`` (``config.batch_size``; 2 on CPU,
where a pass costs in proportion to its circuits), and shrink to what a window
committed when one fails, so that a wrong guess wastes few circuits. The result therefore EQUALS
the sequential algorithm (up to floating-point differences between batched and single forward
passes). Every pass starts at the first layer it patches, from the cached clean run: ACDC visits
nodes in reverse topological order, so all removed edges enter the current node's layer or later.
The literal one-forward-per-edge variant is ``extra={"sequential": True}``.

Node level: the same procedure over upstream nodes (removing a node patches all its outgoing
edges), in reverse topological order; nodes with no kept path to logits are removed unevaluated.

Threshold sweep -> scores. ``config.thresholds`` (default: auto-circuit's 20 values
``{1,3,5,7,9} x 10^{-5..-2}``) are run independently (each from the full model) unless
``extra={"nested": True}``, which runs them in increasing order, each starting from the previous
circuit (guaranteeing nested circuits). The runs share one memo of mask losses, so a mask that
several thresholds reach (they agree on most decisions) is evaluated once. Score of an edge = the
largest swept ``tau`` such that the edge is in the (pruned) circuit at every swept threshold
``<= tau``; an edge removed already at the smallest threshold scores ``0`` (or ``min(taus) - 1`` if
the sweep has thresholds <= 0).
Hence ``circuit.threshold(tau_j)`` returns the intersection of the sweep circuits at thresholds
``<= tau_j``, which is exactly the circuit at ``tau_j`` whenever the sweep is nested (always with
``nested``; with independent runs, ACDC's path dependence can make a circuit at a larger tau
contain an edge a smaller tau removed — that edge is then scored by the smaller tau).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import Circuit, ComputationalGraph, NodeKind, patched_forward, prune_edges
from circuits_benchmark.graph.patching import CleanRun, pass_start_layer
from circuits_benchmark.methods.base import MethodConfig, discovery_method
from circuits_benchmark.methods.optimal_ablation import method_loss, method_source, node_to_edge_scores
from circuits_benchmark.tasks import PatchingTask

Tensor = torch.Tensor
Evaluate = Callable[[Tensor], Tensor]  # [C, n_edges] masks -> [C] losses (float64, cpu)

DEFAULT_THRESHOLDS: list[float] = sorted(b * 10.0 ** e for e in range(-5, -1) for b in (1, 3, 5, 7, 9))


# ---------------------------------------------------------------------------- evaluation
@dataclass
class EvaluationCount:
    """Work done by an evaluator: patched passes, circuits evaluated, and forward-equivalents (each
    circuit counts the share of the model its pass ran: passes start at the first patched layer);
    ``reused``: masks answered from the evaluator's memo instead."""

    passes: int = 0
    circuits: int = 0
    forward_equivalents: float = 0.0
    reused: int = 0

    def reset(self) -> None:
        self.passes, self.circuits, self.forward_equivalents, self.reused = 0, 0, 0.0, 0


def _mask_key(mask: Tensor) -> Optional[bytes]:
    """A 0/1 mask's bits (None for masks with other values, which are never memoised)."""
    values = mask.detach().cpu()
    if not bool(((values == 0) | (values == 1)).all()):
        return None
    return np.packbits(values.numpy() != 0).tobytes()


def make_evaluator(task: PatchingTask, graph: ComputationalGraph, source: Tensor, metric: Optional[str],
                   circuits_per_batch: int, memo: bool = False) -> tuple[Evaluate, EvaluationCount]:
    """A batched loss function over edge masks, and the count of the work it does.

    With ``memo``, the loss of every 0/1 mask is remembered and a mask met again is not evaluated
    again: the runs of a threshold sweep start from the same full model and share most of their
    decisions, so they ask for the same masks (each mask's loss is a function of the mask alone).
    """
    loss_fn = method_loss(task, metric)
    count = EvaluationCount()
    clean = CleanRun.of(task.model, graph, task.clean_tokens, task.clean_mask)
    n_layers = graph.cfg.n_layers
    known: dict[bytes, float] = {}

    def run(masks: Tensor) -> Tensor:
        out = []
        for start in range(0, masks.shape[0], circuits_per_batch):
            chunk = masks[start:start + circuits_per_batch].to(device=source.device, dtype=source.dtype)
            logits = patched_forward(task.model, graph, task.clean_tokens, chunk, source, task.clean_mask, clean=clean)
            out.append(loss_fn(logits).to(torch.float64).cpu())
            count.passes += 1
            count.circuits += chunk.shape[0]
            count.forward_equivalents += chunk.shape[0] * (n_layers - pass_start_layer(graph, chunk)) / n_layers
        return torch.cat(out)

    @torch.no_grad()
    def evaluate(masks: Tensor) -> Tensor:
        if not memo:
            return run(masks)
        keys = [_mask_key(mask) for mask in masks]
        new = [i for i, key in enumerate(keys) if key is None or key not in known]
        values = torch.empty(len(keys), dtype=torch.float64)
        if new:
            values[new] = run(masks[new])
            known.update((keys[i], float(values[i])) for i in new if keys[i] is not None)
        fresh = set(new)
        for i, key in enumerate(keys):
            if i not in fresh:
                values[i] = known[key]  # type: ignore[index]
        count.reused += len(keys) - len(new)
        return values

    return evaluate, count


CPU_CIRCUITS_PER_PASS = 2
"""ACDC's circuits per pass on CPU. Its masks patch most edges, so a pass costs in proportion to its
circuits (and more, once they outgrow the cache): windows of 2 to 5 ran no faster than one circuit per
pass on the 6 x 8 x 128 benchmark model, 5 ran slower (benchmarks/bench_acdc.py, EXPERIMENTS.md §4)."""


def circuits_per_pass(task: PatchingTask, config: MethodConfig) -> int:
    """Circuits per patched pass (and the largest speculative window): ``config.batch_size``, at most
    ``CPU_CIRCUITS_PER_PASS`` on CPU."""
    on_cpu = next(task.model.parameters()).device.type == "cpu"
    return max(1, min(config.batch_size, CPU_CIRCUITS_PER_PASS if on_cpu else config.batch_size))


# ---------------------------------------------------------------------------- greedy removal
@dataclass
class Speculation:
    """Adaptive speculative windows for one ACDC run.

    The window grows (doubling, up to ``max_window``) while the predicted decisions hold and shrinks
    to the number of decisions a window committed when one fails, so that wrong guesses waste few
    circuits. A candidate never evaluated is predicted by the majority of the decisions so far.
    """

    max_window: int
    window: int = 2
    removed: int = 0
    kept: int = 0

    def predict_removed(self) -> bool:
        return self.removed > self.kept

    def record(self, removed: bool) -> None:
        if removed:
            self.removed += 1
        else:
            self.kept += 1

    def update(self, size: int, committed: int) -> None:
        held = committed == size
        self.window = min(self.max_window, 2 * size) if held else max(1, committed)


def greedy_removal(candidates: Sequence[Tensor], mask: Tensor, cur: float, tau: float, evaluate: Evaluate,
                   window: int, is_dead: Optional[Callable[[int, Tensor], bool]] = None,
                   speculation: Optional[Speculation] = None) -> tuple[Tensor, float]:
    """ACDC's in-order greedy removal of candidate edge groups, with exact speculative batching.

    Args:
        candidates: edge-index tensors; removing candidate ``j`` zeroes ``mask[candidates[j]]``.
        mask: ``[n_edges]`` current mask (not modified); ``cur``: its loss.
        window: candidates evaluated per batched pass (1 = the literal sequential algorithm); with
            ``speculation``, the largest window it may choose.
        is_dead: ``is_dead(j, mask)`` -> remove candidate ``j`` without evaluating it.
        speculation: adaptive windows and predictions shared across calls (see ``Speculation``).

    Returns:
        The final mask and its loss. Decisions equal the sequential algorithm's (see module doc).
    """
    mask = mask.clone()
    n = len(candidates)
    estimate: list[Optional[float]] = [None] * n
    i = 0
    while i < n:
        size = max(1, window if speculation is None else min(window, speculation.window))
        end = min(n, i + size)
        chain = mask.clone()
        trials: list[Optional[Tensor]] = []   # per candidate: its trial mask, None if dead
        predicted: list[bool] = []
        for j in range(i, end):
            trial = chain.clone()
            trial[candidates[j]] = 0.0
            dead = is_dead is not None and is_dead(j, chain)
            trials.append(None if dead else trial)
            if dead:
                pred = True
            elif estimate[j] is not None:
                pred = estimate[j] < tau
            else:
                pred = speculation is not None and speculation.predict_removed()
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
            if speculation is not None and value is not None:
                speculation.record(remove)
            if remove != predicted[offset]:
                next_i = j + 1
                break
        if speculation is not None:
            speculation.update(end - i, next_i - i)
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
    speculation = Speculation(window) if window > 1 else None
    nodes = [n for n in reversed(graph.nodes) if n.kind is not NodeKind.INPUT]
    for node in tqdm(nodes, desc=f"ACDC tau={tau:.2g}", disable=not progress, leave=False):
        incoming = _incoming_order(graph, node.index)
        incoming = incoming[mask[incoming] > 0]
        if len(incoming) == 0:
            continue
        if not _reaches_logits(graph, mask)[node.index]:
            mask[incoming] = 0.0
            continue
        mask, cur = greedy_removal([e.reshape(1) for e in incoming], mask, cur, tau, evaluate, window,
                                   speculation=speculation)
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

    speculation = Speculation(window) if window > 1 else None
    mask, _ = greedy_removal(candidates, mask, cur, tau, evaluate, window, is_dead, speculation)
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
    window = circuits_per_pass(task, config)
    evaluate, _ = make_evaluator(task, graph, source, config.metric, window)
    window = 1 if config.extra.get("sequential", False) else window
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
    window = circuits_per_pass(task, config)
    evaluate, count = make_evaluator(task, graph, source, config.metric, window, memo=True)
    window = 1 if config.extra.get("sequential", False) else window
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
        bar.set_postfix(kept=int(kept[-1].sum()), passes=count.passes, reused=count.reused)
    scores = sweep_scores(taus, kept)
    if config.level == "node":
        scores[graph.node_index("logits")] = float("nan")
        edge_scores = node_to_edge_scores(graph, torch.nan_to_num(scores, nan=float("inf")))
        return Circuit.from_scores(graph, edge_scores, node_scores=scores)
    return Circuit.from_scores(graph, scores)
