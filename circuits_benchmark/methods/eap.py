"""Gradient attribution: EAP, EAP-IG (inputs), EAP-IG (activations) and EAP-IG (masks), at edge, node and neuron level.

All of them run on the patching engine: with ``w = 1 - mask`` the engine adds
``w[u->v] * (source_u - actual_u)`` at every downstream input ``v``, so

    d metric / d mask[u->v]  =  - sum_{batch, pos} (source_u - actual_u) . d metric / d(input of v)

which at ``mask = 1`` is minus the EAP score of Syed et al. (2023).

Scores and signs. Every score here estimates an *importance*: the damage removing the component
does to the metric, ``orientation * (m(patched) - m(clean))`` with orientation +1 for divergences
(``kl``, ``l2``: lower is better) and -1 for ``logit_diff``, ``prob_diff``, ``output_diff`` (higher
is better). Scores stay signed in the Circuit; rank by ``|score|`` with ``Circuit.top_n(absolute=True)``.
Scale: the metric is the task-wide mean, so a score is the EAP-IG library's score (which divides a
batch-mean metric by the number of examples once more) times the number of examples, with the
orientation's sign.

Metrics. KL and L2 are minimised (zero) at the clean point, so their gradient there vanishes and
plain EAP with them returns zeros (up to float noise); EAP-IG is fine with them because it takes
gradients away from the clean point. The gradient methods therefore default to a *contrast*
metric, as the field does (MIB's attribution loss is ``-(logit[correct] - logit[incorrect])``):

* categorical tasks: ``logit_diff`` = logit of the clean model's answer minus logit of the
  corrupted model's answer, averaged over counted positions;
* numerical tasks: ``output_diff`` = ``(y - y_corrupted) * sign(y_clean - y_corrupted)``, how far
  the output moves towards the clean model's output (linear in the output, like a logit diff).

An explicit ``config.metric`` (``kl``, ``l2``, ...) is honoured, with a warning for EAP + KL / L2.

Methods (``config.ig_steps = m`` interpolation points, EAP-IG's conventions; ``D = source - clean``
is the *fixed* difference of node outputs, ``G_v`` the gradient of the metric w.r.t. the input of
``v`` in an interpolated run, the score of ``u->v`` is ``orientation * sum_{batch, pos} D_u . G_v``
averaged over the runs):

* ``eap``: one clean forward + backward per example chunk (the source activations once).
* ``eap-ig-inputs`` (the EAP-IG library's ``EAP-IG-inputs``): runs with the ``input`` node's output
  (``blocks.0.hook_resid_pre``) interpolated, ``alpha * clean + (1 - alpha) * source`` for
  ``alpha = k/m``, ``k = 0..m-1``; average over the m runs. One forward + backward per step
  (steps batched ``config.batch_size`` at a time): the gradients are read at the downstream inputs
  and multiplied by ``D`` directly.
* ``eap-ig-activations`` (the EAP-IG library's / MIB's ``EAP-IG-activations``): the nodes are
  split into layer groups, in order: the ``input`` node; all heads of layer L; the MLP of layer L.
  For each group and each ``k = 1..m`` (``alpha = k/m``, so the last point is the clean run), the
  group's output is *replaced* by the constant ``alpha * clean + (1 - alpha) * source`` (every
  other node computed normally on the clean input, so no gradient flows through the replaced group
  into earlier nodes), and every edge scores ``D_u . G_v`` with ``G_v`` taken at its downstream
  input in that run; the average is over steps *and* groups (``m * n_groups`` runs). This does not
  satisfy completeness. Unlike the reference code, mean / zero ablation interpolate towards the
  mean / zero source (the reference interpolates towards zero under mean ablation).
* ``eap-ig-masks``: integrated gradients in edge-mask space: the mask is ``alpha * 1`` for
  ``alpha = k/m``, ``k = 1..m`` (every node's contribution to every edge interpolated between the
  source and its actual value at once), mask gradients averaged; the difference is the one at each
  interpolation point (``source - actual``), not the fixed one. With many steps the scores sum to
  ``orientation * (m(empty) - m(clean))`` (completeness). This was ``eap-ig-activations`` before
  that name was given to MIB's algorithm; the two rank edges differently.

Levels. ``edge``: edge scores. ``node``: a node's score is the (signed) sum of its outgoing edge
scores (for ``eap`` / ``eap-ig-masks`` exactly the gradient w.r.t. a node mask). ``neuron``: per
``d_model`` dimension of each upstream node's output (the same sum split by dimension), node score
= sum over its neurons. At node and neuron level the Circuit's edge scores are the parent node's
score (so edge selection picks whole nodes); ``logits`` gets a NaN (unscored) node score.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional

import torch
from tqdm.auto import tqdm

from circuits_benchmark import metrics
from circuits_benchmark.graph import (
    Circuit,
    ComputationalGraph,
    NodeKind,
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


@dataclass(frozen=True)
class _InputSite:
    """A TransformerLens hook holding downstream inputs: ``hook_{q,k,v}_input`` (one per head), ``hook_mlp_in``
    or the last ``hook_resid_post`` (logits), with the downstream indices and the number of parents."""

    hook_name: str
    downstream: tuple[int, ...]
    n_parents: int


def input_sites(graph: ComputationalGraph) -> list[_InputSite]:
    """The downstream inputs grouped by hook, in downstream order."""
    grouped: dict[str, list[int]] = {}
    for down in graph.downstream_inputs:
        grouped.setdefault(down.hook_name, []).append(down.index)
    sites = []
    for name, indices in grouped.items():
        parents = {graph.downstream_inputs[i].n_parents for i in indices}
        assert len(parents) == 1, f"inputs at {name} have different parents"
        sites.append(_InputSite(name, tuple(indices), parents.pop()))
    return sites


def input_gradients(task: PatchingTask, graph: ComputationalGraph, metric: ScoringMetric, rows: slice,
                    source: Tensor, edge_mask: Tensor) -> list[Tensor]:
    """One patched forward + backward: per input site, ``d sum_C metric / d input`` summed over the circuits.

    Runs the ``C`` circuits of ``edge_mask [C, n_edges]`` (patched from ``source``) on the example rows
    and returns, for each of ``input_sites(graph)``, a ``[rows, pos, n_inputs, d_model]`` gradient.
    The gradients are read by adding a zero probe at each site (an outer TransformerLens hook; the
    values are unchanged and patching stays in the engine); the engine's own additions at the same
    hooks are sums, so the gradient w.r.t. the probe is the gradient w.r.t. the node's whole input.
    """
    model, sites = task.model, input_sites(graph)
    probes: dict[str, Tensor] = {}

    def probe_hook(act: Tensor, hook: Any) -> Tensor:
        probe = torch.zeros_like(act, requires_grad=True)
        probes[hook.name] = probe
        return act + probe

    attention = None if task.clean_mask is None else task.clean_mask[rows]
    mask = edge_mask.detach()
    n_circuits = mask.shape[0]
    with torch.enable_grad(), model.hooks(fwd_hooks=[(site.hook_name, probe_hook) for site in sites]):
        logits = patched_forward(model, graph, task.clean_tokens[rows], mask, source, attention)
        value = metric.restrict(rows)(logits).sum()
        wanted = [probes[site.hook_name] for site in sites]
        grads = torch.autograd.grad(value, wanted, allow_unused=True)
    out = []
    for probe, grad in zip(wanted, grads):
        grad = torch.zeros_like(probe) if grad is None else grad
        if grad.ndim == 3:
            grad = grad.unsqueeze(-2)
        out.append(grad.view(n_circuits, -1, *grad.shape[1:]).sum(0))
    return out


class FixedDifferenceScores:
    """Accumulates ``sum_{batch, pos} D_u . G_v`` for every edge ``u->v`` (and per ``d_model`` dimension of ``u``).

    ``D [batch, pos, n_upstream, d]`` is a fixed activation difference and ``G`` the input gradients of
    ``input_gradients`` (already summed over interpolation points: ``D`` is the same for all of them).
    """

    def __init__(self, graph: ComputationalGraph, neuron_level: bool, like: Tensor):
        self.graph = graph
        self.sites = input_sites(graph)
        self.dense = torch.zeros(graph.n_upstream, graph.n_downstream, dtype=like.dtype, device=like.device)
        self.neuron = (torch.zeros(graph.n_upstream, graph.cfg.d_model, dtype=like.dtype, device=like.device)
                       if neuron_level else None)

    def add(self, difference: Tensor, gradients: list[Tensor]) -> None:
        for site, grad in zip(self.sites, gradients):
            diff = difference[:, :, :site.n_parents]
            columns = list(site.downstream)
            self.dense[:site.n_parents, columns] += torch.einsum("bpud,bpjd->uj", diff, grad)
            if self.neuron is not None:
                self.neuron[:site.n_parents] += torch.einsum("bpud,bpd->ud", diff, grad.sum(-2))

    def attribution(self, scale: float) -> Attribution:
        edge = self.dense[self.graph.edge_upstream.to(self.dense.device), self.graph.edge_downstream.to(self.dense.device)]
        return Attribution(scale * edge, None if self.neuron is None else scale * self.neuron)


def _add_gradients(total: Optional[list[Tensor]], new: list[Tensor]) -> list[Tensor]:
    return new if total is None else [t + n for t, n in zip(total, new)]


def layer_groups(graph: ComputationalGraph) -> list[tuple[str, Tensor]]:
    """MIB's interpolation groups, in order: ``input``, then per layer all heads (``a{L}``) and the MLP (``m{L}``).

    Each as (label, upstream rows).
    """
    groups: dict[str, list[int]] = {}
    for node in graph.upstream_nodes:
        label = "input" if node.kind is NodeKind.INPUT else (f"a{node.layer}" if node.is_head else f"m{node.layer}")
        groups.setdefault(label, []).append(node.upstream_index)
    return [(label, torch.tensor(rows, dtype=torch.long)) for label, rows in groups.items()]


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
def _mask_gradient_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig,
                               metric: ScoringMetric, source: Tensor, alphas: Tensor, desc: str) -> Attribution:
    """Gradients w.r.t. edge (or, at neuron level, neuron) masks set to each of ``alphas``, summed over
    examples and averaged over ``alphas``: EAP at ``alphas = [1]``, integrated gradients over masks else."""
    n = task.clean_tokens.shape[0]
    neuron_level = config.level == "neuron"
    edge_total = torch.zeros(graph.n_edges, dtype=source.dtype, device=source.device)
    neuron_total = torch.zeros(graph.n_upstream, graph.cfg.d_model, dtype=source.dtype, device=source.device)
    chunks = list(example_chunks(n, examples_per_forward(config)))
    jobs = [(rows, a) for rows in chunks for a in _batches(alphas, config.batch_size)]
    for rows, a in tqdm(jobs, desc=desc, disable=not config.progress or len(jobs) < 4):
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
    sign = -metric.orientation / len(alphas)
    return Attribution(sign * edge_total, sign * neuron_total if neuron_level else None)


def eap_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Attribution:
    """EAP scores (signed importances) of every edge (and neuron at neuron level): mask gradients at 1."""
    metric, source = _prepare(task, graph, config, "eap")
    if metric.name in LOWER_IS_BETTER:
        warnings.warn(f"EAP with metric {metric.name!r}: its gradient at the clean point is zero, so the scores "
                      "are (numerically) zero; use logit_diff / output_diff or EAP-IG", stacklevel=2)
    ones = torch.ones(1, dtype=source.dtype, device=source.device)
    return _mask_gradient_attribution(task, graph, config, metric, source, ones, "eap")


def _batches(values: Tensor, size: int) -> list[Tensor]:
    """``values`` in consecutive batches of ``size`` (along the first dimension)."""
    return [values[chunk] for chunk in example_chunks(len(values), size)]


def _fixed_difference_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig,
                                  metric: ScoringMetric, source: Tensor, runs_per_chunk: int, runs, desc: str,
                                  n_averaged: int) -> Attribution:
    """Scores ``(source_u - clean_u) . G_v`` with ``G_v`` the gradients at downstream inputs summed over the
    runs ``runs(clean_acts, source_acts)`` yields per example chunk (``(activations, edge masks)`` of one
    patched forward each) and divided by ``n_averaged``."""
    n = task.clean_tokens.shape[0]
    scores = FixedDifferenceScores(graph, config.level == "neuron", like=source)
    chunks = list(example_chunks(n, examples_per_forward(config)))
    n_jobs = len(chunks) * runs_per_chunk
    bar = tqdm(total=n_jobs, desc=desc, disable=not config.progress or n_jobs < 8)
    for rows in chunks:
        attention = None if task.clean_mask is None else task.clean_mask[rows]
        clean_acts = collect_node_outputs(task.model, graph, task.clean_tokens[rows], attention)
        src = source_rows(source, rows, n)
        gradients = None
        for acts, masks in runs(clean_acts, src):
            gradients = _add_gradients(gradients, input_gradients(task, graph, metric, rows, acts, masks))
            bar.update(1)
        scores.add(src - clean_acts, gradients)
    bar.close()
    return scores.attribution(metric.orientation / n_averaged)


def eap_ig_inputs_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Attribution:
    """EAP-IG (inputs): gradients at the downstream inputs, averaged over runs with the ``input`` node's output
    interpolated (``alpha = k/m``, ``k = 0..m-1``, weight of clean), times the fixed difference ``source - clean``.

    One forward + backward per step; ``config.batch_size`` steps share a forward pass.
    """
    metric, source = _prepare(task, graph, config, "eap-ig-inputs")
    steps = max(1, int(config.ig_steps))
    input_edges = graph.edges_out_of("input").to(source.device)
    alphas = torch.arange(0, steps, dtype=source.dtype, device=source.device) / steps
    alpha_batches = _batches(alphas, config.batch_size)

    def runs(clean_acts: Tensor, src: Tensor):
        for a in alpha_batches:
            edge_mask = _ones(len(a), graph.n_edges, like=source)
            edge_mask[:, input_edges] = a[:, None]
            yield src, edge_mask

    return _fixed_difference_attribution(task, graph, config, metric, source, len(alpha_batches), runs,
                                         "eap-ig-inputs", steps)


def eap_ig_activations_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Attribution:
    """EAP-IG (activations) as MIB / the EAP-IG library compute it.

    For each layer group (``layer_groups``: input, heads of a layer, an MLP) and ``k = 1..m``: replace the
    group's output by the constant ``alpha * clean + (1 - alpha) * source`` (``alpha = k/m``), read the
    gradients at every downstream input, and score each edge ``u->v`` with the fixed difference
    ``(source_u - clean_u) . G_v``; average over the ``m * n_groups`` runs. The replacement is the engine
    patching every outgoing edge of the group (mask 0) from the interpolated activations, so nothing
    upstream sees a gradient through the group. ``config.batch_size`` groups share a forward pass.
    """
    metric, source = _prepare(task, graph, config, "eap-ig-activations")
    steps = max(1, int(config.ig_steps))
    groups = layer_groups(graph)
    group_masks = _ones(len(groups), graph.n_edges, like=source)
    edge_upstream = graph.edge_upstream.to(source.device)
    for i, (_, upstream_rows) in enumerate(groups):
        group_masks[i, torch.isin(edge_upstream, upstream_rows.to(source.device))] = 0.0
    mask_batches = _batches(group_masks, config.batch_size)

    def runs(clean_acts: Tensor, src: Tensor):
        for k in range(1, steps + 1):
            alpha = k / steps
            interpolated = alpha * clean_acts + (1 - alpha) * src
            for masks in mask_batches:
                yield interpolated, masks

    return _fixed_difference_attribution(task, graph, config, metric, source, steps * len(mask_batches), runs,
                                         "eap-ig-activations", steps * len(groups))


def eap_ig_masks_attribution(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Attribution:
    """EAP-IG (masks): integrated gradients over edge masks ``alpha * 1``, ``alpha = k/m``, k = 1..m (completeness)."""
    metric, source = _prepare(task, graph, config, "eap-ig-masks")
    steps = max(1, int(config.ig_steps))
    alphas = torch.arange(1, steps + 1, dtype=source.dtype, device=source.device) / steps
    return _mask_gradient_attribution(task, graph, config, metric, source, alphas, "eap-ig-masks")


LEVELS_ALL = ("edge", "node", "neuron")


@discovery_method("eap", "edge attribution patching (Syed et al. 2023): gradient x activation difference",
                  levels=LEVELS_ALL, ablations=GRADIENT_ABLATIONS)
def eap(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    return attribution_circuit(graph, eap_attribution(task, graph, config), config.level)


@discovery_method("eap-ig-inputs", "EAP-IG-inputs (Hanna et al. 2024): gradients over interpolated input embeddings "
                  "x fixed activation difference", levels=LEVELS_ALL, ablations=GRADIENT_ABLATIONS)
def eap_ig_inputs(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    return attribution_circuit(graph, eap_ig_inputs_attribution(task, graph, config), config.level)


@discovery_method("eap-ig-activations", "EAP-IG-activations as in MIB / the EAP-IG library: one layer group's "
                  "activations interpolated at a time, fixed activation difference x gradient, averaged over steps "
                  "and groups", levels=LEVELS_ALL, ablations=GRADIENT_ABLATIONS)
def eap_ig_activations(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    return attribution_circuit(graph, eap_ig_activations_attribution(task, graph, config), config.level)


@discovery_method("eap-ig-masks", "EAP with integrated gradients over edge masks (all nodes interpolated together; "
                  "scores sum to the total effect)", levels=LEVELS_ALL, ablations=GRADIENT_ABLATIONS)
def eap_ig_masks(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    return attribution_circuit(graph, eap_ig_masks_attribution(task, graph, config), config.level)
