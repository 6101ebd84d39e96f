"""UGS, uniform gradient sampling (Li & Janson 2024, "Optimal ablation for interpretability"; the
mask-learning baseline of the MIB circuit track).

Each edge has a logit ``theta`` and keep-probability ``p = sigmoid(theta)``. Every step samples
``n_samples`` masks: with ``u ~ U(0, 1)`` and window ``w = p (1 - p)`` (no gradient), an edge is
kept (1) if ``u < p - w/2``, removed (0) if ``u > p + w/2``, and takes the continuous value
``(p + w/2 - u) / w`` in between, so the mask is a Bernoulli(p) draw except inside a uniform
window around ``p`` where it is differentiable (d mask / d theta = p (1 - p) there; elsewhere 0).
As in the reference code, edges of a sample that are not on an input -> logits path of (non-zero)
sampled edges are switched off. The loss is ``mean over samples of task loss / scale + reg_lambda *
mean_edges sigmoid(theta)``, where ``scale`` = loss(empty circuit) - loss(full model) (so
``reg_lambda`` is in units of the whole model's effect, comparable across tasks whose KL / L2
magnitudes differ by orders; ``extra["normalise"]=False`` uses scale 1) and the penalty is a mean
over edges (the reference sums; the mean keeps ``reg_lambda`` comparable across model sizes).
Masked edges blend toward the ablation source.

Settings: ``config.reg_lambda``, ``config.epochs`` (Adam steps), ``config.seed``; the step size is
``config.lr / 5`` (the reference divides its learning rate by 5 for counterfactual ablation; at the
full shared default 0.05 the masks collapse before the task gradient separates the edges) unless
``config.extra["lr"]`` is given. ``config.extra``: ``n_samples`` (masks per step, default 8),
``init`` (initial theta, default 1.0), ``lr``.
Scores = the learned keep probabilities ``sigmoid(theta)`` (higher = more important; never negative,
so ranking by magnitude keeps the order).
"""

from __future__ import annotations

from typing import Optional

import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import Circuit, ComputationalGraph, patched_forward, prune_edges
from circuits_benchmark.methods.base import MethodConfig, discovery_method
from circuits_benchmark.methods.optimal_ablation import loss_scale, method_loss, method_source
from circuits_benchmark.tasks import PatchingTask
from circuits_benchmark.utils.torch_utils import frozen_weights

Tensor = torch.Tensor


def sample_uniform_window_masks(theta: Tensor, n_samples: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """``[n_samples, n_edges]`` UGS masks from logits ``theta [n_edges]`` (differentiable in the window)."""
    p = torch.sigmoid(theta)
    window = (p * (1 - p)).detach().clamp(min=1e-6)
    # same value as p, gradient scaled by the window: d mask / d theta = p (1 - p) inside it
    p_scaled = window * p - (window - 1) * p.detach()
    u = torch.rand((n_samples, theta.shape[-1]), generator=generator, dtype=theta.dtype).to(theta.device)
    return 1.0 - ((u - p_scaled) / window + 0.5).clamp(0.0, 1.0)


def _drop_dangling(graph: ComputationalGraph, masks: Tensor) -> Tensor:
    """Zero sampled edges that are off every input -> logits path of non-zero edges."""
    keep = prune_edges(graph, masks.detach() > 0)
    return masks * keep.to(device=masks.device, dtype=masks.dtype)


def train_ugs(task: PatchingTask, graph: ComputationalGraph, source: Tensor, reg_lambda: float, epochs: int,
              lr: float, n_samples: int = 8, init: float = 1.0, metric: Optional[str] = None, seed: int = 0,
              progress: bool = True, scale: float = 1.0) -> Tensor:
    """Learned edge logits ``theta [n_edges]``."""
    model = task.model
    device, dtype = source.device, source.dtype
    theta = torch.full((graph.n_edges,), float(init), device=device, dtype=dtype, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=lr)
    loss_fn = method_loss(task, metric)
    generator = torch.Generator().manual_seed(seed)
    with frozen_weights(model):
        bar = tqdm(range(epochs), desc="UGS", disable=not progress)
        for _ in bar:
            optimizer.zero_grad()
            masks = _drop_dangling(graph, sample_uniform_window_masks(theta, n_samples, generator))
            logits = patched_forward(model, graph, task.clean_tokens, masks, source, task.clean_mask)
            task_loss = loss_fn(logits).mean() / scale
            loss = task_loss + reg_lambda * torch.sigmoid(theta).mean()
            loss.backward()
            optimizer.step()
            bar.set_postfix(task_loss=task_loss.detach().item(), density=torch.sigmoid(theta.detach()).mean().item())
    return theta.detach()


@discovery_method(
    "ugs",
    "Uniform gradient sampling: learned continuous edge masks with a sparsity penalty; scores = keep probabilities",
    levels=("edge",),
    ablations=("patching", "mean", "zero", "optimal"),
)
def uniform_gradient_sampling(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    """UGS edge scores: each edge's learned keep probability sigmoid(theta); see module doc for settings.

    Probabilities, not the raw logits: scores are ranked by magnitude (MIB's CMD, rank AUROC), and a
    large negative logit (an edge surely dropped) must not outrank a kept one.
    """
    source = method_source(task, graph, config)
    lr = float(config.extra.get("lr", config.lr / 5))
    scale = loss_scale(task, graph, source, config.metric) if config.extra.get("normalise", True) else 1.0
    theta = train_ugs(task, graph, source, config.reg_lambda, config.epochs, lr,
                      int(config.extra.get("n_samples", 8)), float(config.extra.get("init", 1.0)), config.metric,
                      config.seed, config.progress, scale)
    return Circuit.from_scores(graph, torch.sigmoid(theta.to(torch.float64)).cpu())
