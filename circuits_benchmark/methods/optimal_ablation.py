"""Optimal ablation (Li & Janson 2024): learned constant replacement values, and the `oa` method.

`learn_optimal_ablation` learns, for *every* upstream node (each attention head separately, each
MLP, the input node), one constant vector ``a_u`` minimising the task loss of the model when node
``u`` alone is ablated with it (all of ``u``'s outgoing edges take ``a_u``). All nodes train at once:
a batch of circuits, circuit ``c`` removing node ``c``; since circuit ``c`` only patches node ``c``,
the summed loss gives each vector exactly its own gradient. Vectors start at the mean output of the
node over the task's clean inputs (so learning can only improve on per-node mean ablation, up to
optimiser noise). Optionally one vector per position (``per_position=True``).

The `oa` method then scores each edge (or node) by the loss increase when it alone is ablated with
its node's optimal value: batched single-edge ablations through `evaluate_edge_masks`, exactly as
exact patching does, with ``PatchSource.learned`` as the source.

Shared helpers for the search methods of this package (ACDC, SP, UGS, OA) also live here:
`method_loss` (the lower-is-better objective for a config), `method_source` (source activations
for any ablation, including ``optimal``) and `node_to_edge_scores`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Callable, Optional

import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import (
    Circuit,
    ComputationalGraph,
    PatchSource,
    evaluate_edge_masks,
    mean_node_outputs,
    patched_forward,
    patched_forward_nodes,
    resolve_source,
    single_edge_ablation_masks,
)
from circuits_benchmark.graph.node_patching import node_layer_chunks
from circuits_benchmark.graph.patching import CleanRun
from circuits_benchmark.methods.base import MethodConfig, discovery_method
from circuits_benchmark.tasks import PatchingTask
from circuits_benchmark.utils.atomic import torch_save
from circuits_benchmark.utils.torch_utils import frozen_weights

Tensor = torch.Tensor
LossFn = Callable[[Tensor], Tensor]

# metrics where higher means closer to the clean model; the loss is their negation
_HIGHER_IS_BETTER = ("logit_diff", "prob_diff", "accuracy")


# ---------------------------------------------------------------------------- shared helpers
def method_loss(task: PatchingTask, metric: Optional[str] = None) -> LossFn:
    """Lower-is-better objective on ``[C, batch, pos, vocab]`` logits -> ``[C]``.

    Divergences (kl, l2) are used as they are; for logit_diff, prob_diff and accuracy the loss is
    the negated metric, so "the loss increases" always means "the circuit got worse".
    """
    name = metric or task.default_metric
    sign = -1.0 if name in _HIGHER_IS_BETTER else 1.0
    return lambda logits: sign * task.metric(logits, name)


def method_source(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Tensor:
    """Resolved source activations for ``config.ablation`` (``optimal``: learned here first).

    ``config.extra`` keys for ``optimal``: ``oa_epochs`` (default 100), ``oa_lr`` (0.05),
    ``oa_per_position`` (False), ``oa_cache`` (a file: values learned on the same model, data and
    settings are read from it instead of learned again, and new ones are written to it; `bench` gives
    one per case so that the edge and node levels learn once).
    """
    if config.ablation == "optimal":
        settings = {"epochs": int(config.extra.get("oa_epochs", 100)), "lr": float(config.extra.get("oa_lr", 0.05)),
                    "per_position": bool(config.extra.get("oa_per_position", False)), "metric": config.metric,
                    "circuits_per_batch": config.batch_size}
        cache = config.extra.get("oa_cache")
        key = _values_key(task, graph, settings) if cache else ""
        values = _cached_values(cache, key) if cache else None
        if values is None:
            values = learn_optimal_ablation(task, graph, progress=config.progress, **settings)
            if cache:
                torch_save({"key": key, "values": values.cpu()}, cache)
        source: PatchSource = PatchSource.learned(values)
    else:
        source = task.source(config.ablation)
    return resolve_source(task.model, graph, source, tuple(task.clean_tokens.shape), config.progress)


def _values_key(task: PatchingTask, graph: ComputationalGraph, settings: dict) -> str:
    """What learned values depend on: the model's weights, the task's data, the graph and the settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(f"{graph.n_upstream} {graph.n_edges} {task.default_metric}".encode())
    tensors = [task.clean_tokens] + ([task.clean_mask] if task.clean_mask is not None else [])
    for tensor in tensors + [p.detach() for p in task.model.state_dict().values()]:
        digest.update(tensor.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cached_values(path: str, key: str) -> Optional[Tensor]:
    """The values stored in ``path`` under ``key`` (None: no file, another key or an unreadable file)."""
    try:
        stored = torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - a missing, partial or foreign file is learned again, never trusted
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    return stored["values"]


@torch.no_grad()
def empty_circuit_loss(task: PatchingTask, graph: ComputationalGraph, source: Tensor,
                       metric: Optional[str] = None) -> float:
    """Loss of the empty circuit minus that of the full model (the scale of the task's effect)."""
    masks = torch.stack([torch.zeros(graph.n_edges), torch.ones(graph.n_edges)]).to(source.device, source.dtype)
    values = method_loss(task, metric)(patched_forward(task.model, graph, task.clean_tokens, masks, source,
                                                       task.clean_mask))
    return float(values[0] - values[1])


def loss_scale(task: PatchingTask, graph: ComputationalGraph, source: Tensor, metric: Optional[str] = None) -> float:
    """Normaliser for learned-mask objectives: ``empty_circuit_loss`` (1.0 if it is not positive)."""
    scale = empty_circuit_loss(task, graph, source, metric)
    return scale if scale > 1e-12 else 1.0


def node_to_edge_scores(graph: ComputationalGraph, node_scores: Tensor) -> Tensor:
    """Edge scores from node scores: ``min(score(parent), score(child))``, logits counting as +inf.

    An edge then passes ``threshold(t)`` exactly when both of its end nodes do, so thresholding the
    edge scores reproduces the node-level circuit at ``t``.
    """
    scores = node_scores.to(torch.float64).clone()
    scores[graph.node_index("logits")] = float("inf")
    return torch.minimum(scores[graph.edge_parent], scores[graph.edge_child])


def single_node_removal_masks(graph: ComputationalGraph, dtype: torch.dtype = torch.float32,
                              device: Optional[torch.device] = None) -> Tensor:
    """``[n_upstream, n_nodes]`` node masks; row ``i`` removes upstream node ``i`` alone."""
    node_masks = torch.ones(graph.n_upstream, graph.n_nodes, dtype=dtype, device=device)
    rows = torch.arange(graph.n_upstream, device=device)
    node_masks[rows, torch.tensor([n.index for n in graph.upstream_nodes], device=device)] = 0.0
    return node_masks


def single_node_ablation_masks(graph: ComputationalGraph, dtype: torch.dtype = torch.float32,
                               device: Optional[torch.device] = None) -> Tensor:
    """``[n_upstream, n_edges]`` masks; row ``i`` removes every outgoing edge of upstream node ``i``."""
    return graph.node_mask_to_edge_mask(single_node_removal_masks(graph, dtype, device))


# ---------------------------------------------------------------------------- learning
def learn_optimal_ablation(task: PatchingTask, graph: Optional[ComputationalGraph] = None, epochs: int = 100,
                           lr: float = 0.05, per_position: bool = False, metric: Optional[str] = None,
                           circuits_per_batch: int = 32, progress: bool = True) -> Tensor:
    """Optimal constant ablation values, ``[n_upstream, d_model]`` (``[pos, n_upstream, d_model]``
    with ``per_position``), rows in ``graph.upstream_nodes`` order.

    Full-batch Adam on the task's clean inputs; each epoch is one step over all nodes (circuits of
    ``circuits_per_batch`` nodes at a time, gradients accumulated) through the node pass; each pass
    starts at its nodes' layer (``node_layer_chunks``, from the cached clean run).
    """
    graph = graph or task.graph()
    model = task.model
    params = list(model.parameters())
    device, dtype = params[0].device, params[0].dtype
    init = mean_node_outputs(model, graph, task.clean_tokens, task.clean_mask, per_position=per_position,
                             progress=False)  # [pos | 1, n_up, d]
    values = (init if per_position else init[0]).detach().clone().to(device=device, dtype=dtype).requires_grad_(True)
    masks = single_node_removal_masks(graph, dtype=dtype, device=device)
    loss_fn = method_loss(task, metric)
    optimizer = torch.optim.Adam([values], lr=lr)
    clean = CleanRun.of(model, graph, task.clean_tokens, task.clean_mask)
    chunks = node_layer_chunks(graph, masks, circuits_per_batch)
    with frozen_weights(model):
        bar = tqdm(range(epochs), desc="optimal ablation", disable=not progress)
        for _ in bar:
            optimizer.zero_grad()
            total = 0.0
            for chunk in chunks:
                logits = patched_forward_nodes(model, graph, task.clean_tokens, masks[chunk.to(masks.device)],
                                               PatchSource.learned(values), task.clean_mask, clean=clean)
                loss = loss_fn(logits).sum()
                loss.backward()
                total += loss.detach().item()
            optimizer.step()
            bar.set_postfix(loss=total / graph.n_upstream)
    return values.detach()


def ablation_effects(task: PatchingTask, graph: ComputationalGraph, masks: Tensor, source: Tensor,
                     metric: Optional[str] = None, circuits_per_batch: int = 32, progress: bool = True) -> Tensor:
    """Loss increase of each circuit in ``masks [N, n_edges]`` over the full model, ``[N]`` float64."""
    loss_fn = method_loss(task, metric)
    full = torch.ones(1, graph.n_edges, dtype=masks.dtype, device=masks.device)
    values = evaluate_edge_masks(task.model, graph, task.clean_tokens, torch.cat([full, masks]), source, loss_fn,
                                 task.clean_mask, circuits_per_batch, progress)
    return (values[1:] - values[0]).to(torch.float64).cpu()


# ---------------------------------------------------------------------------- the method
@discovery_method(
    "oa",
    "Optimal ablation: learn a constant per node, then score each edge (node) by the loss increase "
    "when it alone is ablated with that constant",
    levels=("edge", "node"),
    ablations=("optimal", "patching"),
)
def optimal_ablation_method(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    """Scores = loss(one edge / node ablated with its optimal constant) - loss(full model).

    The ablation is always the learned optimal one (``patching``, the config default, is read as
    ``optimal``); plain single-edge patching / mean / zero scores are the ``exact`` method's job.
    """
    config = replace(config, ablation="optimal")
    source = method_source(task, graph, config)
    device, dtype = source.device, source.dtype
    if config.level == "node":
        effects = ablation_effects(task, graph, single_node_ablation_masks(graph, dtype, device), source,
                                   config.metric, config.batch_size, config.progress)
        node_scores = torch.zeros(graph.n_nodes, dtype=torch.float64)
        node_scores[[n.index for n in graph.upstream_nodes]] = effects
        node_scores[graph.node_index("logits")] = float("nan")
        edge_scores = node_to_edge_scores(graph, torch.nan_to_num(node_scores, nan=float("inf")))
        return Circuit.from_scores(graph, edge_scores, node_scores=node_scores)
    masks = single_edge_ablation_masks(graph, torch.arange(graph.n_edges), dtype, device)
    effects = ablation_effects(task, graph, masks, source, config.metric, config.batch_size, config.progress)
    return Circuit.from_scores(graph, effects)
