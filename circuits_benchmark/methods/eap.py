"""Gradient attribution: EAP, EAP-IG (inputs) and EAP-IG (activations), at edge, node and neuron level.

All three run on the patching engine: with ``w = 1 - mask`` the engine adds
``w[u->v] * (source_u - actual_u)`` at every downstream input ``v``, so

    d metric / d mask[u->v]  =  - sum_{batch, pos} (source_u - actual_u) . d metric / d(input of v)

which at ``mask = 1`` is minus the EAP score of Syed et al. (2023).

Scores and signs. Every score here estimates an *importance*: the damage removing the component
does to the metric, ``orientation * (m(patched) - m(clean))`` with orientation +1 for divergences
(``kl``, ``l2``: lower is better) and -1 for ``logit_diff``, ``prob_diff``, ``output_diff`` (higher
is better). Scores stay signed in the Circuit; rank by ``|score|`` with ``Circuit.top_n(absolute=True)``.

Metrics. KL and L2 are minimised (zero) at the clean point, so their gradient there vanishes and
plain EAP with them returns zeros (up to float noise); EAP-IG is fine with them because it takes
gradients away from the clean point. The gradient methods therefore default to a *contrast*
metric, as the field does (MIB's attribution loss is ``-(logit[correct] - logit[incorrect])``):

* categorical tasks: ``logit_diff`` = logit of the clean model's answer minus logit of the
  corrupted model's answer, averaged over counted positions;
* numerical tasks: ``output_diff`` = ``(y - y_corrupted) * sign(y_clean - y_corrupted)``, how far
  the output moves towards the clean model's output (linear in the output, like a logit diff).

An explicit ``config.metric`` (``kl``, ``l2``, ...) is honoured, with a warning for EAP + KL / L2.

Methods (``config.ig_steps = m`` interpolation points, EAP-IG's conventions):

* ``eap``: one clean forward + backward per example chunk (the source activations once).
* ``eap-ig-inputs``: gradients at inputs interpolated between the source and the clean input
  embedding (``input`` node output = ``blocks.0.hook_resid_pre``), ``alpha = k/m`` for
  ``k = 0..m-1`` (weight of the clean input), each multiplied by the *fixed* activation difference
  ``source - clean``. Implemented by patching the ``input`` node's edges with weight ``1 - alpha``
  and, at each step, using ``actual(alpha) + (source - clean)`` as the engine's source so that the
  engine's difference is the fixed one.
* ``eap-ig-activations``: integrated gradients in edge-mask space: the mask is ``alpha * 1`` for
  ``alpha = k/m``, ``k = 1..m`` (every node's contribution interpolated between the source and its
  actual value), gradients averaged. With many steps the scores sum to ``orientation * (m(empty) -
  m(clean))`` (completeness). Interpolation is towards the chosen source (corrupted / mean / zero),
  never towards zero by mistake. Unlike EAP-IG's reference code (one layer interpolated at a time,
  with the fixed clean/corrupted difference), all nodes move together and the difference is the one
  at each interpolation point.

Levels. ``edge``: edge scores. ``node``: a node's score is the (signed) sum of its outgoing edge
scores (exactly the gradient w.r.t. a node mask). ``neuron``: per ``d_model`` dimension of each
upstream node's output (gradient w.r.t. the engine's neuron mask), node score = sum over its
neurons. At node and neuron level the Circuit's edge scores are the parent node's score (so edge
selection picks whole nodes); ``logits`` gets a NaN (unscored) node score.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Optional

import torch
from tqdm.auto import tqdm

from circuits_benchmark import metrics
from circuits_benchmark.graph import (
    Circuit,
    ComputationalGraph,
    collect_node_outputs,
    patched_forward,
    resolve_source,
)
from circuits_benchmark.methods.base import MethodConfig, discovery_method
from circuits_benchmark.tasks import PatchingTask

Tensor = torch.Tensor

LOWER_IS_BETTER = ("kl", "l2")
HIGHER_IS_BETTER = ("logit_diff", "prob_diff", "output_diff", "accuracy")
SCORING_METRICS = LOWER_IS_BETTER + HIGHER_IS_BETTER
NON_DIFFERENTIABLE = ("accuracy",)
GRADIENT_ABLATIONS = ("patching", "mean", "zero")


# ---------------------------------------------------------------------------- metrics
@dataclass(frozen=True)
class ScoringMetric:
    """A task metric over a subset of examples, normalised so that chunk values add up.

    ``metric(logits [..., rows, pos, vocab]) -> [...]`` sums the per-position values of the rows
    and divides by the number of counted positions of the *whole* task, so summing over example
    chunks gives the task-wide mean. ``orientation`` turns metric changes into importances:
    ``importance = orientation * (m(patched) - m(clean))``.
    """

    task: PatchingTask
    name: str
    rows: Optional[slice] = None

    @property
    def lower_is_better(self) -> bool:
        return self.name in LOWER_IS_BETTER

    @property
    def orientation(self) -> float:
        return 1.0 if self.lower_is_better else -1.0

    def restrict(self, rows: slice) -> "ScoringMetric":
        return replace(self, rows=rows)

    def __call__(self, logits: Tensor) -> Tensor:
        task, rows = self.task, (slice(None) if self.rows is None else self.rows)
        pos = task.positions[rows]
        ref, corr = task.clean_logits[rows], task.corrupted_logits[rows]
        scale = pos.sum().to(logits.dtype) / task.positions.sum().clamp(min=1).to(logits.dtype)
        name = self.name
        if name == "kl":
            value = metrics.kl_divergence(ref, logits, pos)
        elif name == "l2":
            value = metrics.l2_distance(ref, logits, pos)
        elif name == "logit_diff":
            value = metrics.logit_difference(logits, pos, ref.argmax(-1), corr.argmax(-1))
        elif name == "prob_diff":
            value = metrics.probability_difference(logits, pos, ref.argmax(-1), corr.argmax(-1))
        elif name == "accuracy":
            value = (metrics.accuracy(logits, pos, ref.argmax(-1)) if task.is_categorical
                     else metrics.numerical_accuracy(logits, pos, ref[..., 0]))
        elif name == "output_diff":
            direction = torch.sign(ref[..., 0] - corr[..., 0])
            values = (logits[..., 0] - corr[..., 0]) * direction
            weights = pos.to(values.dtype)
            value = (values * weights).sum(dim=(-2, -1)) / weights.sum().clamp(min=1)
        else:  # pragma: no cover - checked in scoring_metric
            raise ValueError(name)
        return value * scale


def default_attribution_metric(task: PatchingTask) -> str:
    """``logit_diff`` for categorical tasks, ``output_diff`` for numerical ones."""
    return "logit_diff" if task.is_categorical else "output_diff"


def scoring_metric(task: PatchingTask, name: Optional[str] = None, gradient: bool = False) -> ScoringMetric:
    """The named metric (default: attribution metric if ``gradient`` else the task's default)."""
    if name is None:
        name = default_attribution_metric(task) if gradient else task.default_metric
    if name not in SCORING_METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(SCORING_METRICS)}")
    if name in ("kl", "logit_diff", "prob_diff") and not task.is_categorical:
        raise ValueError(f"metric {name!r} needs categorical outputs; this task is numerical (use l2 or output_diff)")
    if name == "output_diff" and task.is_categorical:
        raise ValueError("metric 'output_diff' is for numerical tasks; use logit_diff or prob_diff")
    if gradient and name in NON_DIFFERENTIABLE:
        raise ValueError(f"metric {name!r} is not differentiable; gradient methods need kl, l2, logit_diff, "
                         "prob_diff or output_diff")
    return ScoringMetric(task, name)


# ---------------------------------------------------------------------------- helpers
def example_chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive ``slice`` objects covering ``range(n)`` in chunks of ``size``."""
    size = max(1, int(size))
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def source_rows(source_acts: Tensor, rows: slice, n_examples: int) -> Tensor:
    """The rows of a resolved source (``[B|1, P|1, n_up, d]``) for an example chunk."""
    if source_acts.shape[0] == n_examples and n_examples > 1:
        return source_acts[rows]
    return source_acts


def examples_per_forward(config: MethodConfig) -> int:
    """Examples per forward pass of the gradient methods (``config.extra['examples_per_batch']``)."""
    return int(config.extra.get("examples_per_batch", 128))


def _model_float(model: Any) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters())
    return p.device, p.dtype


def _output_hook_names(graph: ComputationalGraph) -> list[str]:
    names: list[str] = []
    for node in graph.upstream_nodes:
        if not names or names[-1] != node.output_hook:
            names.append(node.output_hook)
    return names


@torch.no_grad()
def recorded_node_outputs(model: Any, graph: ComputationalGraph, run: Callable[[], Any]) -> Tensor:
    """Node outputs ``[batch, pos, n_upstream, d]`` seen during ``run()`` (e.g. a patched forward).

    Only reads activations (TransformerLens hooks in an outer context); patching stays in the engine.
    """
    seen: dict[str, Tensor] = {}

    def make(name: str) -> Callable:
        def hook(act: Tensor, hook: Any) -> None:
            seen[name] = act.detach()
        return hook

    names = _output_hook_names(graph)
    with model.hooks(fwd_hooks=[(n, make(n)) for n in names]):
        run()
    return torch.cat([seen[n] if seen[n].ndim == 4 else seen[n].unsqueeze(-2) for n in names], dim=-2)


def mask_gradients(task: PatchingTask, graph: ComputationalGraph, metric: ScoringMetric, rows: slice,
                   source: Tensor, edge_mask: Tensor, neuron_mask: Optional[Tensor] = None
                   ) -> tuple[Tensor, Optional[Tensor]]:
    """``d sum_C metric / d masks`` for the example rows: ``([n_edges], [n_up, d] | None)``, summed over circuits.

    ``edge_mask``: ``[C, n_edges]``; ``neuron_mask``: ``[C, n_up, d]`` or None.
    """
    device, dtype = _model_float(task.model)
    edge = edge_mask.detach().to(device=device, dtype=dtype).requires_grad_(True)
    neuron = None if neuron_mask is None else neuron_mask.detach().to(device=device, dtype=dtype).requires_grad_(True)
    attention = None if task.clean_mask is None else task.clean_mask[rows]
    with torch.enable_grad():
        logits = patched_forward(task.model, graph, task.clean_tokens[rows], edge, source, attention, neuron)
        value = metric.restrict(rows)(logits).sum()
        wanted = [edge] if neuron is None else [edge, neuron]
        grads = torch.autograd.grad(value, wanted, allow_unused=True)
    edge_grad = torch.zeros_like(edge) if grads[0] is None else grads[0]
    neuron_grad = None
    if neuron is not None:
        neuron_grad = (torch.zeros_like(neuron) if grads[1] is None else grads[1]).sum(0)
    return edge_grad.sum(0), neuron_grad


@dataclass
class Attribution:
    """Signed importances: ``edge [n_edges]`` and, at neuron level, ``neuron [n_up, d_model]``."""

    edge: Tensor
    neuron: Optional[Tensor] = None


def attribution_circuit(graph: ComputationalGraph, attribution: Attribution, level: str) -> Circuit:
    """The Circuit for a level: edge scores; node scores (sum of outgoing edges / of neurons); neurons."""
    edge = attribution.edge.detach().cpu().to(torch.float64)
    if level == "edge":
        return Circuit.from_scores(graph, edge)
    if level == "neuron":
        if attribution.neuron is None:
            raise ValueError("neuron level needs neuron scores")
        neuron = attribution.neuron.detach().cpu().to(torch.float64)
        upstream = neuron.sum(-1)
        node_scores = torch.full((graph.n_nodes,), math.nan, dtype=torch.float64)
        node_scores[[n.index for n in graph.upstream_nodes]] = upstream
        return node_level_circuit(graph, node_scores, neuron_scores=neuron)
    if level == "node":
        node_scores = torch.zeros(graph.n_nodes, dtype=torch.float64).index_add_(0, graph.edge_parent, edge)
        node_scores[graph.node_index("logits")] = math.nan
        return node_level_circuit(graph, node_scores)
    raise ValueError(f"unknown level {level!r}")


def node_level_circuit(graph: ComputationalGraph, node_scores: Tensor, neuron_scores: Optional[Tensor] = None) -> Circuit:
    """Node (and neuron) scores, with every edge scored by its parent node (all kept)."""
    node_scores = node_scores.detach().cpu().to(torch.float64)
    edge_scores = node_scores[graph.edge_parent]
    circuit = Circuit(graph, edge_scores, torch.ones(graph.n_edges, dtype=torch.bool), node_scores=node_scores,
                      neuron_scores=neuron_scores)
    if neuron_scores is not None:
        circuit.neuron_in_graph = torch.ones(graph.n_upstream, graph.cfg.d_model, dtype=torch.bool)
    return circuit


def _prepare(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig, method: str
             ) -> tuple[ScoringMetric, Tensor]:
    if config.ablation not in GRADIENT_ABLATIONS:
        raise ValueError(f"{method} supports ablations {', '.join(GRADIENT_ABLATIONS)}, not {config.ablation!r}")
    metric = scoring_metric(task, config.metric, gradient=True)
    source = resolve_source(task.model, graph, task.source(config.ablation), tuple(task.clean_tokens.shape),
                            progress=config.progress)
    return metric, source


def _ones(n: int, *shape: int, like: Tensor) -> Tensor:
    return torch.ones(n, *shape, device=like.device, dtype=like.dtype)


# ---------------------------------------------------------------------------- methods
def eap_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Attribution:
    """EAP scores (signed importances) of every edge (and neuron at neuron level)."""
    metric, source = _prepare(task, graph, config, "eap")
    if metric.name in LOWER_IS_BETTER:
        warnings.warn(f"EAP with metric {metric.name!r}: its gradient at the clean point is zero, so the scores "
                      "are (numerically) zero; use logit_diff / output_diff or EAP-IG", stacklevel=2)
    n = task.clean_tokens.shape[0]
    neuron_level = config.level == "neuron"
    edge_total = torch.zeros(graph.n_edges, dtype=source.dtype, device=source.device)
    neuron_total = torch.zeros(graph.n_upstream, graph.cfg.d_model, dtype=source.dtype, device=source.device) if neuron_level else None
    chunks = list(example_chunks(n, examples_per_forward(config)))
    for rows in tqdm(chunks, desc="eap", disable=not config.progress or len(chunks) < 4):
        edge_mask = _ones(1, graph.n_edges, like=source)
        neuron_mask = _ones(1, graph.n_upstream, graph.cfg.d_model, like=source) if neuron_level else None
        g_edge, g_neuron = mask_gradients(task, graph, metric, rows, source_rows(source, rows, n), edge_mask, neuron_mask)
        edge_total += g_edge
        if neuron_level:
            neuron_total += g_neuron
    sign = -metric.orientation
    return Attribution(sign * edge_total, None if neuron_total is None else sign * neuron_total)


def eap_ig_inputs_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Attribution:
    """EAP-IG (inputs): gradients averaged over interpolated input embeddings x fixed activation difference."""
    metric, source = _prepare(task, graph, config, "eap-ig-inputs")
    steps = max(1, int(config.ig_steps))
    model, n = task.model, task.clean_tokens.shape[0]
    neuron_level = config.level == "neuron"
    input_row = graph.node("input").upstream_index
    input_edges = graph.edges_out_of("input")
    edge_total = torch.zeros(graph.n_edges, dtype=source.dtype, device=source.device)
    neuron_total = torch.zeros(graph.n_upstream, graph.cfg.d_model, dtype=source.dtype, device=source.device)
    chunks = list(example_chunks(n, examples_per_forward(config)))
    bar = tqdm(total=len(chunks) * steps, desc="eap-ig-inputs", disable=not config.progress or len(chunks) * steps < 8)
    for rows in chunks:
        tokens = task.clean_tokens[rows]
        attention = None if task.clean_mask is None else task.clean_mask[rows]
        clean_acts = collect_node_outputs(model, graph, tokens, attention)
        src = source_rows(source, rows, n).expand_as(clean_acts)
        difference = src - clean_acts
        for k in range(steps):
            alpha = k / steps  # weight of the clean input
            edge_mask = _ones(1, graph.n_edges, like=source)
            neuron_mask = None
            if neuron_level:
                neuron_mask = _ones(1, graph.n_upstream, graph.cfg.d_model, like=source)
                neuron_mask[:, input_row] = alpha
            else:
                edge_mask[:, input_edges] = alpha
            acts = recorded_node_outputs(model, graph, lambda: patched_forward(
                model, graph, tokens, edge_mask, src, attention, neuron_mask))
            g_edge, g_neuron = mask_gradients(task, graph, metric, rows, acts + difference, edge_mask, neuron_mask)
            edge_total += g_edge
            if neuron_level:
                neuron_total += g_neuron
            bar.update(1)
    bar.close()
    sign = -metric.orientation / steps
    return Attribution(sign * edge_total, sign * neuron_total if neuron_level else None)


def eap_ig_activations_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Attribution:
    """EAP-IG (activations): integrated gradients over edge masks ``alpha * 1``, ``alpha = k/m``, k = 1..m."""
    metric, source = _prepare(task, graph, config, "eap-ig-activations")
    steps = max(1, int(config.ig_steps))
    n = task.clean_tokens.shape[0]
    neuron_level = config.level == "neuron"
    alphas = torch.arange(1, steps + 1, dtype=source.dtype, device=source.device) / steps
    per_forward = max(1, int(config.batch_size))
    edge_total = torch.zeros(graph.n_edges, dtype=source.dtype, device=source.device)
    neuron_total = torch.zeros(graph.n_upstream, graph.cfg.d_model, dtype=source.dtype, device=source.device)
    chunks = list(example_chunks(n, examples_per_forward(config)))
    alpha_chunks = [alphas[i:i + per_forward] for i in range(0, steps, per_forward)]
    jobs = [(rows, a) for rows in chunks for a in alpha_chunks]
    for rows, a in tqdm(jobs, desc="eap-ig-activations", disable=not config.progress or len(jobs) < 4):
        if neuron_level:
            edge_mask = _ones(len(a), graph.n_edges, like=source)
            neuron_mask = a[:, None, None] * _ones(len(a), graph.n_upstream, graph.cfg.d_model, like=source)
        else:
            edge_mask = a[:, None] * _ones(len(a), graph.n_edges, like=source)
            neuron_mask = None
        g_edge, g_neuron = mask_gradients(task, graph, metric, rows, source_rows(source, rows, n), edge_mask, neuron_mask)
        edge_total += g_edge
        if neuron_level:
            neuron_total += g_neuron
    sign = -metric.orientation / steps
    return Attribution(sign * edge_total, sign * neuron_total if neuron_level else None)


LEVELS_ALL = ("edge", "node", "neuron")


@discovery_method("eap", "edge attribution patching (Syed et al. 2023): gradient x activation difference",
                  levels=LEVELS_ALL, ablations=GRADIENT_ABLATIONS)
def eap(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    return attribution_circuit(graph, eap_attribution(task, graph, config), config.level)


@discovery_method("eap-ig-inputs", "EAP with integrated gradients over interpolated input embeddings (Hanna et al. 2024)",
                  levels=LEVELS_ALL, ablations=GRADIENT_ABLATIONS)
def eap_ig_inputs(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    return attribution_circuit(graph, eap_ig_inputs_attribution(task, graph, config), config.level)


@discovery_method("eap-ig-activations", "EAP with integrated gradients over interpolated activations (edge masks)",
                  levels=LEVELS_ALL, ablations=GRADIENT_ABLATIONS)
def eap_ig_activations(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    return attribution_circuit(graph, eap_ig_activations_attribution(task, graph, config), config.level)
