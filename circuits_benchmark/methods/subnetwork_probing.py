"""Subnetwork probing (Cao et al. 2021, as adapted in ACDC): learned hard-concrete (L0) masks.

Each unit (an upstream node by default, an edge with ``level="edge"`` — ACDC's ``--edgewise``)
has a parameter ``log_alpha``. Training samples a hard-concrete mask per unit::

    s = sigmoid((log u - log(1 - u) + log_alpha) / beta),  u ~ U(0, 1)
    z = clamp(s * (zeta - gamma) + gamma, 0, 1)

with gamma = -0.1, zeta = 1.1, beta = 2/3, and minimises
``loss(masked model) / scale + lambda * penalty``, where
``penalty = mean_units sigmoid(log_alpha - beta * log(-gamma / zeta))`` is the expected share of
non-zero masks (the L0 norm) and ``scale`` = loss(empty circuit) - loss(full model), so lambda is
in units of the whole model's effect (``extra["normalise"]=False``: scale 1). A masked unit blends
toward the ablation source through the engine's differentiable masks (a node's ``z`` blends its
output on all its outgoing edges at once: the node pass, ``patched_forward_nodes``). After training, a unit is kept iff its deterministic mask
``clamp(sigmoid(log_alpha) * (zeta - gamma) + gamma, 0, 1)`` exceeds 0.5.

Lambda sweep: all ``config.lambdas`` (default 5 values, 10^-2..10^2) train *in parallel*, as a
batch of circuits in the same forward pass (each lambda has its own parameters, loss and
gradients). ``config.epochs`` full-batch Adam steps at ``config.lr``. Scores follow ACDC's sweep
rule: a unit's score is the largest lambda such that it is kept at that lambda and every smaller
one (0 if pruned at the smallest), so ``threshold(lambda_j)`` reproduces the circuit at
``lambda_j`` when the sweep is nested. Node level: edge scores are ``min(parent, child)`` node
scores (logits counting as +inf).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import Circuit, ComputationalGraph, patched_forward, patched_forward_nodes
from circuits_benchmark.methods.acdc import sweep_scores
from circuits_benchmark.methods.base import MethodConfig, discovery_method
from circuits_benchmark.methods.optimal_ablation import loss_scale, method_loss, method_source, node_to_edge_scores
from circuits_benchmark.tasks import PatchingTask
from circuits_benchmark.utils.torch_utils import frozen_weights

Tensor = torch.Tensor

GAMMA, ZETA, BETA = -0.1, 1.1, 2.0 / 3.0
DEFAULT_LAMBDAS: list[float] = [0.01, 0.1, 1.0, 10.0, 100.0]
INIT_LOG_ALPHA = 3.0  # deterministic mask 1, sampled masks mostly 1


def hard_concrete_penalty(log_alpha: Tensor, beta: float = BETA, gamma: float = GAMMA, zeta: float = ZETA) -> Tensor:
    """Expected L0 share ``mean(sigmoid(log_alpha - beta * log(-gamma / zeta)))`` over the last dim."""
    return torch.sigmoid(log_alpha - beta * math.log(-gamma / zeta)).mean(-1)


def sample_hard_concrete(log_alpha: Tensor, generator: Optional[torch.Generator] = None, beta: float = BETA,
                         gamma: float = GAMMA, zeta: float = ZETA) -> Tensor:
    """A differentiable hard-concrete sample in [0, 1] with the shape of ``log_alpha``."""
    u = torch.rand(log_alpha.shape, generator=generator, dtype=log_alpha.dtype).to(log_alpha.device)
    u = u.clamp(1e-6, 1 - 1e-6)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (zeta - gamma) + gamma).clamp(0.0, 1.0)


def deterministic_mask(log_alpha: Tensor, gamma: float = GAMMA, zeta: float = ZETA) -> Tensor:
    """The test-time mask ``clamp(sigmoid(log_alpha) * (zeta - gamma) + gamma, 0, 1)``."""
    return (torch.sigmoid(log_alpha) * (zeta - gamma) + gamma).clamp(0.0, 1.0)


def _masked_forward(task: PatchingTask, graph: ComputationalGraph, level: str, unit_mask: Tensor,
                    source: Tensor) -> Tensor:
    """Logits ``[L, batch, pos, vocab]`` with masks ``[L, n_units]``: edges through the edge engine, upstream
    nodes through the node pass (a node's mask blends its output on all of its outgoing edges)."""
    if level == "edge":
        return patched_forward(task.model, graph, task.clean_tokens, unit_mask, source, task.clean_mask)
    node_mask = unit_mask.new_ones(unit_mask.shape[0], graph.n_nodes)
    upstream_rows = torch.tensor([n.index for n in graph.upstream_nodes], device=unit_mask.device)
    node_mask = node_mask.index_copy(1, upstream_rows, unit_mask)
    return patched_forward_nodes(task.model, graph, task.clean_tokens, node_mask, source, task.clean_mask)


def train_masks(task: PatchingTask, graph: ComputationalGraph, lambdas: list[float], level: str, epochs: int,
                lr: float, source: Tensor, metric: Optional[str] = None, seed: int = 0,
                progress: bool = True, scale: float = 1.0) -> Tensor:
    """Train one set of hard-concrete masks per lambda (in parallel); returns ``log_alpha [L, n_units]``."""
    model = task.model
    device, dtype = source.device, source.dtype
    n_units = graph.n_edges if level == "edge" else graph.n_upstream
    log_alpha = torch.full((len(lambdas), n_units), INIT_LOG_ALPHA, device=device, dtype=dtype, requires_grad=True)
    lam = torch.tensor(lambdas, device=device, dtype=dtype)
    loss_fn = method_loss(task, metric)
    optimizer = torch.optim.Adam([log_alpha], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    with frozen_weights(model):
        bar = tqdm(range(epochs), desc="subnetwork probing", disable=not progress)
        for _ in bar:
            optimizer.zero_grad()
            z = sample_hard_concrete(log_alpha, generator)
            logits = _masked_forward(task, graph, level, z, source)
            task_loss = loss_fn(logits) / scale
            loss = (task_loss + lam * hard_concrete_penalty(log_alpha)).sum()
            loss.backward()
            optimizer.step()
            bar.set_postfix(loss=loss.detach().item() / len(lambdas))
    return log_alpha.detach()


@discovery_method(
    "sp",
    "Subnetwork probing: hard-concrete (L0) masks trained per lambda; scores from the lambda sweep",
    levels=("node", "edge"),
    ablations=("patching", "mean", "zero", "optimal"),
)
def subnetwork_probing(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    """SP over ``config.lambdas`` (see module doc). Node level unless ``config.level == "edge"``.

    Note: the shared config's default level is ``edge``; pass ``level="node"`` for the classic
    node-level SP (the CLI default for this method is up to the CLI).
    """
    lambdas = sorted(float(x) for x in (config.lambdas or DEFAULT_LAMBDAS))
    source = method_source(task, graph, config)
    scale = loss_scale(task, graph, source, config.metric) if config.extra.get("normalise", True) else 1.0
    log_alpha = train_masks(task, graph, lambdas, config.level, config.epochs, config.lr, source, config.metric,
                            config.seed, config.progress, scale)
    kept = list((deterministic_mask(log_alpha) > 0.5).cpu())
    unit_scores = sweep_scores(lambdas, kept)
    if config.level == "edge":
        return Circuit.from_scores(graph, unit_scores)
    node_scores = torch.full((graph.n_nodes,), float("nan"), dtype=torch.float64)
    node_scores[[n.index for n in graph.upstream_nodes]] = unit_scores
    edge_scores = node_to_edge_scores(graph, torch.nan_to_num(node_scores, nan=float("inf")))
    return Circuit.from_scores(graph, edge_scores, node_scores=node_scores)
