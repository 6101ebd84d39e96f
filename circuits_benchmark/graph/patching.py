"""Fast edge patching: run a model with any set of edges replaced by values from another source.

Each downstream input (a head's q/k/v input, an MLP input, the logits' input) is the sum of the
outputs of all earlier nodes plus constant biases. Patching edge ``u->v`` therefore amounts to
adding ``source_u - actual_u`` at ``v``'s input, where ``actual_u`` is ``u``'s output *in the
patched run itself* (so patches upstream of ``u`` propagate). With ``w = 1 - mask`` the engine
adds, at every downstream input ``v``::

    sum_u  w[u->v] * (source_u - actual_u)

with one einsum per hook over all upstream nodes at once. Masks are float tensors: gradients
w.r.t. the mask work (``d metric / d w`` at ``w = 0`` is the EAP attribution score), and a batch
of ``C`` circuits (masks ``[C, n_edges]``) runs in one forward pass on ``C`` copies of the batch.

Neuron masks ``[n_upstream, d_model]`` (or ``[C, n_upstream, d_model]``, 1 = kept) refine an
edge mask per output dimension: edge ``u->v`` keeps dimension ``i`` with weight
``mask[u->v] * neuron_mask[u, i]`` (so an edge outside the circuit is patched in every dimension).
MIB's ``evaluate_graph`` instead patches only the switched-off neurons even on removed edges; the
two agree for node-level circuits where every edge of a kept node is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Union

import torch
from tqdm.auto import tqdm

from .graph import ComputationalGraph, NodeKind, check_model_prepared

Tensor = torch.Tensor


# ---------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class PatchSource:
    """Where patched edges take their values from. Build with the class methods."""

    kind: str
    tokens: Optional[Tensor] = None
    attention_mask: Optional[Tensor] = None
    values: Any = None
    per_position: bool = True
    batch_size: int = 32

    @classmethod
    def corrupted(cls, tokens: Tensor, attention_mask: Optional[Tensor] = None) -> "PatchSource":
        """Node outputs on corrupted inputs (same shape as the clean batch): activation patching."""
        return cls("corrupted", tokens=tokens, attention_mask=attention_mask)

    @classmethod
    def mean(cls, dataset_tokens: Tensor, attention_mask: Optional[Tensor] = None,
             per_position: bool = True, batch_size: int = 32) -> "PatchSource":
        """Node outputs averaged over a dataset (per position by default; padding excluded)."""
        return cls("mean", tokens=dataset_tokens, attention_mask=attention_mask,
                   per_position=per_position, batch_size=batch_size)

    @classmethod
    def zero(cls) -> "PatchSource":
        """Zero ablation."""
        return cls("zero")

    @classmethod
    def learned(cls, values: Union[Tensor, Mapping[str, Tensor]]) -> "PatchSource":
        """Given per-node vectors (optimal ablation): ``[n_upstream, d_model]``,
        ``[pos, n_upstream, d_model]`` or ``{node name: [d_model]}`` (every upstream node).
        Gradients flow into ``values``."""
        return cls("learned", values=values)

    @classmethod
    def activations(cls, acts: Tensor) -> "PatchSource":
        """Precomputed source activations broadcastable to ``[batch, pos, n_upstream, d_model]``."""
        return cls("activations", values=acts)


def _model_device_dtype(model: Any) -> tuple[torch.device, torch.dtype]:
    param = next(model.parameters())
    return param.device, param.dtype


def _output_hooks(graph: ComputationalGraph) -> list[tuple[str, int, int]]:
    """(hook name, first upstream row, number of rows) for every distinct output hook, in order."""
    hooks: list[tuple[str, int, int]] = []
    for node in graph.upstream_nodes:
        assert node.output_hook is not None and node.upstream_index is not None
        if hooks and hooks[-1][0] == node.output_hook:
            name, start, count = hooks[-1]
            hooks[-1] = (name, start, count + 1)
        else:
            hooks.append((node.output_hook, node.upstream_index, 1))
    return hooks


def _as_node_rows(act: Tensor) -> Tensor:
    """Hook activation -> ``[batch, pos, rows, d_model]`` (adds a row dim to residual-shaped tensors)."""
    return act if act.ndim == 4 else act.unsqueeze(-2)


@torch.no_grad()
def collect_node_outputs(model: Any, graph: ComputationalGraph, tokens: Tensor,
                         attention_mask: Optional[Tensor] = None) -> Tensor:
    """Outputs of every upstream node, ``[batch, pos, n_upstream, d_model]`` (no gradients)."""
    check_model_prepared(model)
    device, _ = _model_device_dtype(model)
    outputs: list[Optional[Tensor]] = [None] * graph.n_upstream

    def make_hook(start: int, count: int) -> Callable:
        def hook(act: Tensor, hook: Any) -> None:
            outputs[start] = _as_node_rows(act).detach()
        return hook

    fwd_hooks = [(name, make_hook(start, count)) for name, start, count in _output_hooks(graph)]
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask.to(device)}
    model.run_with_hooks(tokens.to(device), fwd_hooks=fwd_hooks, return_type=None, **kwargs)
    return torch.cat([o for o in outputs if o is not None], dim=-2)


@torch.no_grad()
def mean_node_outputs(model: Any, graph: ComputationalGraph, dataset_tokens: Tensor,
                      attention_mask: Optional[Tensor] = None, per_position: bool = True,
                      batch_size: int = 32, progress: bool = True) -> Tensor:
    """Dataset mean of node outputs: ``[pos, n_upstream, d]`` (per position) or ``[1, n_upstream, d]``.

    Padded positions (``attention_mask == 0``) are excluded; a position no example reaches gets 0.
    """
    device, dtype = _model_device_dtype(model)
    n, pos = dataset_tokens.shape
    sums = torch.zeros(pos, graph.n_upstream, graph.cfg.d_model, device=device, dtype=torch.float64)
    counts = torch.zeros(pos, device=device, dtype=torch.float64)
    starts = range(0, n, batch_size)
    for start in tqdm(starts, desc="mean activations", disable=not progress or len(starts) < 8):
        toks = dataset_tokens[start:start + batch_size]
        am = None if attention_mask is None else attention_mask[start:start + batch_size].to(device)
        acts = collect_node_outputs(model, graph, toks, am).to(torch.float64)
        weight = torch.ones(toks.shape, device=device, dtype=torch.float64) if am is None else am.to(torch.float64)
        sums += torch.einsum("bpnd,bp->pnd", acts, weight)
        counts += weight.sum(0)
    if per_position:
        means = sums / counts.clamp(min=1.0)[:, None, None]
    else:
        means = (sums.sum(0) / counts.sum().clamp(min=1.0)).unsqueeze(0)
    return means.to(dtype)


def _learned_values(graph: ComputationalGraph, values: Union[Tensor, Mapping[str, Tensor]]) -> Tensor:
    if isinstance(values, Mapping):
        unknown = [k for k in values if k not in graph.node_by_name or graph.node_by_name[k].upstream_index is None]
        if unknown:
            raise KeyError(f"learned ablation vectors for unknown / non-upstream nodes {unknown}")
        missing = [n.name for n in graph.upstream_nodes if n.name not in values]
        if missing:
            raise KeyError(f"learned ablation vectors missing for nodes {missing}")
        return torch.stack([values[n.name] for n in graph.upstream_nodes], dim=0)
    return values


def resolve_source(model: Any, graph: ComputationalGraph, source: Union[PatchSource, Tensor],
                   clean_shape: Optional[tuple[int, int]] = None, progress: bool = True) -> Tensor:
    """Source activations as a tensor broadcastable to ``[batch, pos, n_upstream, d_model]``."""
    device, dtype = _model_device_dtype(model)
    d, n_up = graph.cfg.d_model, graph.n_upstream
    if isinstance(source, Tensor):
        source = PatchSource.activations(source)
    if source.kind == "corrupted":
        if clean_shape is not None and tuple(source.tokens.shape) != tuple(clean_shape):
            raise ValueError(f"corrupted tokens {tuple(source.tokens.shape)} do not match clean {tuple(clean_shape)}")
        acts = collect_node_outputs(model, graph, source.tokens, source.attention_mask)
    elif source.kind == "mean":
        acts = mean_node_outputs(model, graph, source.tokens, source.attention_mask,
                                 source.per_position, source.batch_size, progress)
        if source.per_position:
            if clean_shape is not None and acts.shape[0] < clean_shape[1]:
                raise ValueError(f"mean dataset has {acts.shape[0]} positions, clean input {clean_shape[1]}")
            if clean_shape is not None:
                acts = acts[: clean_shape[1]]
        acts = acts.unsqueeze(0)
    elif source.kind == "zero":
        acts = torch.zeros(1, 1, n_up, d, device=device, dtype=dtype)
    elif source.kind in ("learned", "activations"):
        acts = _learned_values(graph, source.values) if source.kind == "learned" else source.values
        while acts.ndim < 4:
            acts = acts.unsqueeze(0)
    else:
        raise ValueError(f"unknown patch source kind {source.kind!r}")
    if acts.shape[-2:] != (n_up, d):
        raise ValueError(f"source activations end in {tuple(acts.shape[-2:])}, expected ({n_up}, {d})")
    return acts.to(device=device, dtype=dtype)


# ---------------------------------------------------------------------------- engine
def dense_patch_weights(graph: ComputationalGraph, edge_mask: Tensor) -> Tensor:
    """``[C, n_edges]`` mask -> ``[C, n_upstream, n_downstream]`` weights ``1 - mask`` (0 off-graph)."""
    flat = graph.edge_upstream.to(edge_mask.device) * graph.n_downstream + graph.edge_downstream.to(edge_mask.device)
    weights = edge_mask.new_zeros(edge_mask.shape[0], graph.n_upstream * graph.n_downstream)
    weights[:, flat] = 1.0 - edge_mask
    return weights.view(-1, graph.n_upstream, graph.n_downstream)


def dense_kept_weights(graph: ComputationalGraph, edge_mask: Tensor) -> Tensor:
    """``[C, n_edges]`` mask -> ``[C, n_upstream, n_downstream]`` copy of the mask (0 off-graph)."""
    return 1.0 - dense_patch_weights(graph, edge_mask) - (graph.dense_edge_index < 0).to(edge_mask)


class _PatchRun:
    """Hooks and state of one batched patched forward pass."""

    def __init__(self, graph: ComputationalGraph, edge_mask: Tensor, source: Tensor,
                 batch: int, neuron_mask: Optional[Tensor]):
        self.graph = graph
        self.n_circuits = edge_mask.shape[0]
        self.batch = batch
        self.source = source.unsqueeze(0)  # [1, B|1, P|1, n_up, d]
        self.weights = dense_patch_weights(graph, edge_mask)
        self.kept = None
        self.neuron_off = None
        if neuron_mask is not None:
            if neuron_mask.ndim == 2:
                neuron_mask = neuron_mask.unsqueeze(0)
            self.kept = dense_kept_weights(graph, edge_mask)
            self.neuron_off = (1.0 - neuron_mask)[:, None, None]  # [C|1, 1, 1, n_up, d]
        self.deltas: list[Tensor] = []
        self.deltas_off: list[Tensor] = []
        self.head_contribution: Optional[Tensor] = None

    # -- output side
    def _record(self, start: int, act: Tensor) -> None:
        rows = _as_node_rows(act)
        count = rows.shape[-2]
        rows = rows.view(self.n_circuits, self.batch, *rows.shape[1:])
        delta = self.source[..., start:start + count, :] - rows
        self.deltas.append(delta)
        if self.neuron_off is not None:
            self.deltas_off.append(delta * self.neuron_off[..., start:start + count, :])

    def output_hook(self, start: int) -> Callable:
        def hook(act: Tensor, hook: Any) -> None:
            self._record(start, act)
        return hook

    # -- input side
    def _contribution(self, n_parents: int, down_index: Tensor) -> Tensor:
        """``[C, B, P, len(down_index), d]`` correction for the given downstream inputs."""
        deltas = torch.cat(self.deltas, dim=-2)[..., :n_parents, :]
        weights = self.weights[:, :n_parents][:, :, down_index]
        out = torch.einsum("cbpnd,cnj->cbpjd", deltas, weights)
        if self.kept is not None:
            off = torch.cat(self.deltas_off, dim=-2)[..., :n_parents, :]
            out = out + torch.einsum("cbpnd,cnj->cbpjd", off, self.kept[:, :n_parents][:, :, down_index])
        return out

    def head_input_hook(self, letter: str, n_heads: int, n_parents: int, qkv_index: Tensor) -> Callable:
        slot = "qkv".index(letter)

        def hook(act: Tensor, hook: Any) -> Tensor:
            if letter == "q" or self.head_contribution is None:
                self.head_contribution = self._contribution(n_parents, qkv_index)
            part = self.head_contribution[..., slot * n_heads:(slot + 1) * n_heads, :]
            out = act + part.reshape(act.shape)
            if letter == "v":
                self.head_contribution = None
            return out
        return hook

    def residual_input_hook(self, n_parents: int, down_index: Tensor) -> Callable:
        def hook(act: Tensor, hook: Any) -> Tensor:
            return act + self._contribution(n_parents, down_index).reshape(act.shape)
        return hook

    def fwd_hooks(self, device: torch.device) -> list[tuple[str, Callable]]:
        graph, cfg = self.graph, self.graph.cfg
        hooks: list[tuple[str, Callable]] = [
            (name, self.output_hook(start)) for name, start, _ in _output_hooks(graph)
        ]
        for layer in range(cfg.n_layers):
            idx = graph.layer_inputs[layer]
            qkv_index = torch.tensor(list(idx["q"]) + list(idx["k"]) + list(idx["v"]), device=device)
            n_parents = graph.downstream_inputs[idx["q"][0]].n_parents
            for letter in "qkv":
                hooks.append((f"blocks.{layer}.hook_{letter}_input",
                              self.head_input_hook(letter, cfg.n_heads, n_parents, qkv_index)))
            for d_index in idx["mlp"]:
                down = graph.downstream_inputs[d_index]
                hooks.append((down.hook_name, self.residual_input_hook(
                    down.n_parents, torch.tensor([d_index], device=device))))
        logits_in = graph.downstream_inputs[-1]
        hooks.append((logits_in.hook_name, self.residual_input_hook(
            logits_in.n_parents, torch.tensor([logits_in.index], device=device))))
        return hooks


def patched_forward(model: Any, graph: ComputationalGraph, clean_tokens: Tensor, edge_mask: Tensor,
                    source: Union[PatchSource, Tensor], attention_mask: Optional[Tensor] = None,
                    neuron_mask: Optional[Tensor] = None) -> Tensor:
    """Logits of ``model`` on ``clean_tokens`` with edges where ``edge_mask < 1`` patched from ``source``.

    Args:
        edge_mask: ``[n_edges]`` or ``[C, n_edges]`` float (1 = edge kept, 0 = patched; values in
            between interpolate; differentiable).
        source: a ``PatchSource`` or precomputed activations (see ``resolve_source``).
        attention_mask: ``[batch, pos]`` padding mask of the clean tokens.
        neuron_mask: optional ``[n_upstream, d_model]`` or ``[C, n_upstream, d_model]`` (1 = kept).

    Returns:
        ``[batch, pos, d_vocab]`` logits, or ``[C, batch, pos, d_vocab]`` for a batch of masks.
    """
    check_model_prepared(model)
    device, dtype = _model_device_dtype(model)
    if edge_mask.shape[-1] != graph.n_edges:
        raise ValueError(f"edge mask has {edge_mask.shape[-1]} entries, graph has {graph.n_edges} edges")
    single = edge_mask.ndim == 1
    masks = edge_mask.unsqueeze(0) if single else edge_mask
    masks = masks.to(device=device, dtype=dtype)
    n_circuits = masks.shape[0]
    batch, _ = clean_tokens.shape
    source_acts = resolve_source(model, graph, source, tuple(clean_tokens.shape))
    if neuron_mask is not None:
        neuron_mask = neuron_mask.to(device=device, dtype=dtype)
    run = _PatchRun(graph, masks, source_acts, batch, neuron_mask)
    tokens = clean_tokens.to(device).repeat(n_circuits, 1)
    kwargs = {}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask.to(device).repeat(n_circuits, 1)
    logits = model.run_with_hooks(tokens, fwd_hooks=run.fwd_hooks(device), **kwargs)
    logits = logits.view(n_circuits, batch, *logits.shape[1:])
    return logits[0] if single else logits


def evaluate_edge_masks(model: Any, graph: ComputationalGraph, clean_tokens: Tensor, edge_masks: Tensor,
                        source: Union[PatchSource, Tensor], metric: Callable[[Tensor], Tensor],
                        attention_mask: Optional[Tensor] = None, circuits_per_batch: int = 16,
                        progress: bool = True) -> Tensor:
    """``metric`` for many circuits: ``edge_masks [N, n_edges]`` -> ``[N]`` (no gradients).

    ``metric`` maps ``[C, batch, pos, d_vocab]`` logits to ``[C]`` values. The source is
    resolved once; circuits run ``circuits_per_batch`` at a time.
    """
    source_acts = resolve_source(model, graph, source, tuple(clean_tokens.shape), progress)
    results = []
    starts = range(0, edge_masks.shape[0], circuits_per_batch)
    with torch.no_grad():
        for start in tqdm(starts, desc="patched forwards", disable=not progress or len(starts) < 4):
            chunk = edge_masks[start:start + circuits_per_batch]
            logits = patched_forward(model, graph, clean_tokens, chunk, source_acts, attention_mask)
            results.append(metric(logits).detach())
    return torch.cat(results)


def single_edge_ablation_masks(graph: ComputationalGraph, edge_indices: Tensor,
                               dtype: torch.dtype = torch.float32,
                               device: Union[str, torch.device, None] = None) -> Tensor:
    """``[len(edge_indices), n_edges]`` masks, each removing exactly one edge."""
    masks = torch.ones(len(edge_indices), graph.n_edges, dtype=dtype, device=device)
    masks[torch.arange(len(edge_indices)), torch.as_tensor(edge_indices, device=masks.device)] = 0.0
    return masks


def node_mask_to_edge_mask(graph: ComputationalGraph, node_mask: Tensor) -> Tensor:
    """Node mask ``[..., n_nodes]`` -> edge mask (a node's value applies to its outgoing edges)."""
    return graph.node_mask_to_edge_mask(node_mask)


def nodes_removed_mask(graph: ComputationalGraph, removed: list[str], dtype: torch.dtype = torch.float32) -> Tensor:
    """Edge mask removing every outgoing edge of the named nodes (patching their outputs)."""
    node_mask = torch.ones(graph.n_nodes, dtype=dtype)
    for name in removed:
        node = graph.node(name)
        if node.kind is NodeKind.LOGITS:
            raise ValueError("the logits node has no outgoing edges to remove")
        node_mask[node.index] = 0.0
    return graph.node_mask_to_edge_mask(node_mask)
