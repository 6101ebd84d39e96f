"""Fast edge patching: run a model with any set of edges replaced by values from another source.

Each downstream input (a head's q/k/v input, an MLP input, the logits' input) is the sum of the
outputs of all earlier nodes plus constant biases. Patching edge ``u->v`` therefore amounts to
adding ``source_u - actual_u`` at ``v``'s input, where ``actual_u`` is ``u``'s output *in the
patched run itself* (so patches upstream of ``u`` propagate). With ``w = 1 - mask`` the engine
adds, at every downstream input ``v``::

    sum_u  w[u->v] * (source_u - actual_u)

with one batched matrix product per hook over all upstream nodes at once (one for a layer's q, k
and v inputs together, which share their parents). Masks are float tensors: gradients
w.r.t. the mask work (``d metric / d w`` at ``w = 0`` is the EAP attribution score), and a batch
of ``C`` circuits (masks ``[C, n_edges]``) runs in one forward pass on ``C`` copies of the batch.

Neuron masks ``[n_upstream, d_model]`` (or ``[C, n_upstream, d_model]``, 1 = kept) refine an
edge mask per output dimension: edge ``u->v`` keeps dimension ``i`` with weight
``mask[u->v] * neuron_mask[u, i]`` (so an edge outside the circuit is patched in every dimension).
MIB's ``evaluate_graph`` instead patches only the switched-off neurons even on removed edges; the
two agree for node-level circuits where every edge of a kept node is kept.

Circuits of whole nodes need none of the per-input sums: ``node_patching.patched_forward_nodes``
blends node outputs where they are written, and equals this engine on node masks.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from circuits_benchmark.utils.softmax import fast_attention_softmax

from .graph import QKV, ComputationalGraph, NodeKind, check_model_prepared

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


@dataclass(frozen=True)
class _Reader:
    """Where a run reads the outputs of upstream rows ``start .. start + count - 1``.

    Heads are read at ``hook_z`` and projected here by their ``W_O`` (``w_out``, ``[heads, d_head,
    d_model]``): TransformerLens's own per-head result (``use_attn_result``) materialises a
    ``[batch, pos, heads, d_head, d_model]`` product, which made passes on long inputs several times
    slower. Other nodes are read at their output hook as they are.
    """

    hook: str
    start: int
    count: int
    w_out: Optional[Tensor] = None

    def rows(self, act: Tensor, index: Optional[list[int]] = None) -> Tensor:
        """``act`` -> ``[batch, pos, rows, d_model]``, of the rows ``index`` (offsets from ``start``; None = all)."""
        if self.w_out is None:
            rows = _as_node_rows(act)
            return rows if index is None else rows[..., index, :]
        z, w_out = (act, self.w_out) if index is None else (act[..., index, :], self.w_out[index])
        return torch.einsum("bphd,hdm->bphm", z, w_out)


def _readers(model: Any, graph: ComputationalGraph) -> list[_Reader]:
    """The ``_Reader`` of every output hook of ``graph`` on ``model``."""
    readers = []
    for name, start, count in _output_hooks(graph):
        if name.endswith(".attn.hook_result"):
            layer = int(name.split(".")[1])
            readers.append(_Reader(name[: -len("hook_result")] + "hook_z", start, count, model.blocks[layer].attn.W_O))
        else:
            readers.append(_Reader(name, start, count))
    return readers


@contextmanager
def _without_head_results(model: Any) -> Iterator[None]:
    """Run without TransformerLens's per-head results (heads are read at ``hook_z``, see ``_Reader``)."""
    saved = model.cfg.use_attn_result
    model.cfg.use_attn_result = False
    try:
        yield
    finally:
        model.cfg.use_attn_result = saved


@torch.no_grad()
def collect_node_outputs(model: Any, graph: ComputationalGraph, tokens: Tensor,
                         attention_mask: Optional[Tensor] = None,
                         extra_hooks: Sequence[tuple[str, Callable]] = ()) -> Tensor:
    """Outputs of every upstream node, ``[batch, pos, n_upstream, d_model]`` (no gradients).
    ``extra_hooks`` run in the same forward."""
    check_model_prepared(model)
    device, _ = _model_device_dtype(model)
    outputs: list[Optional[Tensor]] = [None] * graph.n_upstream

    def make_hook(reader: _Reader) -> Callable:
        def hook(act: Tensor, hook: Any) -> None:
            outputs[reader.start] = reader.rows(act).detach()
        return hook

    fwd_hooks = [(reader.hook, make_hook(reader)) for reader in _readers(model, graph)] + list(extra_hooks)
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask.to(device)}
    with _without_head_results(model), fast_attention_softmax():
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


@contextmanager
def temporary_hooks(model: Any, fwd_hooks: Sequence[tuple[str, Callable]]) -> Iterator[None]:
    """TransformerLens-style forward hooks ``fn(act, hook)`` on the named hook points, removed on exit.

    Registered with torch directly: ``run_with_hooks`` resets every hook point of the model on exit,
    which costs as much as a small model's forward pass.
    """
    handles = []
    try:
        for name, fn in fwd_hooks:
            point = model.mod_dict[name]
            handles.append(point.register_forward_hook(lambda module, _inputs, out, fn=fn: fn(out, hook=module)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class CleanRun:
    """The unpatched run on the clean batch, cached so patched runs can start part-way through the model.

    Nothing upstream of the earliest patched input changes, so a run whose patched edges all enter
    layer ``L`` or later starts at ``L`` from ``resid[L]`` (auto-circuit's ``start_at_layer``), with
    the outputs of the skipped nodes read from ``outputs``.
    """

    tokens: Tensor
    attention_mask: Optional[Tensor]
    outputs: Tensor          # [batch, pos, n_upstream, d_model] node outputs
    resid: Tensor            # [n_layers, batch, pos, d_model] residual stream entering each block

    @classmethod
    @torch.no_grad()
    def of(cls, model: Any, graph: ComputationalGraph, tokens: Tensor,
           attention_mask: Optional[Tensor] = None) -> "CleanRun":
        """Run ``model`` once on ``tokens``, caching node outputs and the residual stream."""
        check_model_prepared(model)
        device, _ = _model_device_dtype(model)
        tokens = tokens.to(device)
        attention_mask = _effective_attention_mask(model, tokens, attention_mask)
        resid: list[Optional[Tensor]] = [None] * graph.cfg.n_layers

        def save(index: int) -> Callable:
            def hook(act: Tensor, hook: Any) -> None:
                resid[index] = act.detach()
            return hook

        hooks = [(f"blocks.{i}.hook_resid_pre", save(i)) for i in range(graph.cfg.n_layers)]
        outputs = collect_node_outputs(model, graph, tokens, attention_mask, extra_hooks=hooks)
        return cls(tokens, attention_mask, outputs, torch.stack(resid))  # type: ignore[arg-type]

    def matches(self, tokens: Tensor) -> bool:
        return tokens.shape == self.tokens.shape and bool(torch.equal(tokens.to(self.tokens.device), self.tokens))


def _effective_attention_mask(model: Any, tokens: Tensor, attention_mask: Optional[Tensor]) -> Optional[Tensor]:
    """The padding mask TransformerLens would use for ``tokens`` (it derives one for left-padding tokenizers)."""
    if attention_mask is not None:
        return attention_mask.to(tokens.device)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None and getattr(tokenizer, "padding_side", "right") == "left":
        from transformer_lens import utils
        return utils.get_attention_mask(tokenizer, tokens, model.cfg.default_prepend_bos).to(tokens.device)
    return None


def _input_hooks(graph: ComputationalGraph) -> list[tuple[str, list[int]]]:
    """(hook name, downstream-input indices) per input hook, in forward order. A head hook's indices are
    in head order."""
    hooks: list[tuple[str, list[int]]] = []
    for layer, idx in enumerate(graph.layer_inputs):
        for letter in QKV:
            hooks.append((f"blocks.{layer}.hook_{letter}_input", list(idx[letter])))
        for d_index in idx["mlp"]:
            hooks.append((graph.downstream_inputs[d_index].hook_name, [d_index]))
    logits_in = graph.downstream_inputs[-1]
    hooks.append((logits_in.hook_name, [logits_in.index]))
    return hooks


def pass_start_layer(graph: ComputationalGraph, edge_masks: Tensor) -> int:
    """The first block a pass over ``edge_masks`` (``[n_edges]`` or ``[C, n_edges]``) must run: the
    earliest layer a circuit patches an edge into. Patching only logits edges still runs the last
    block, whose ``hook_resid_post`` is the logits' input."""
    return int(_first_patched_layer(graph, edge_masks.reshape(-1, graph.n_edges)).min().clamp(max=graph.cfg.n_layers - 1))


SPARSE_BELOW = 0.25
"""Input hooks whose weights have fewer non-zeros than this share use the gather / index-add path."""


@dataclass(frozen=True)
class _HookTable:
    """Per graph: the input hooks (name, downstream indices, number of parents, layer) in forward order;
    for every edge its position among its hook's downstream inputs, its parent row and the layer it
    enters; and the edges grouped by hook (``by_hook``, ``hook_bounds``) so that a pass finds a
    hook's mask entries in one slice. ``plans`` remembers the sparse plans built from such slices."""

    hooks: list[tuple[str, list[int], int, int]]
    edge_position: np.ndarray
    edge_row: np.ndarray
    edge_layer: np.ndarray
    by_hook: np.ndarray
    hook_bounds: list[tuple[int, int]]
    plans: "_PlanCache" = field(default_factory=lambda: _PlanCache())


PLAN_CACHE_BYTES = 64 * 2**20
"""Memory for remembered sparse plans, per graph (their keys, which hold the mask slices, and weights).
Successive passes of a greedy search (ACDC) patch the same edges into most hooks, so most of a pass's
plans are found, not built."""


class _PlanCache:
    """Sparse plans by (hook, mask slice, device, dtype), least recently used first out, within
    ``PLAN_CACHE_BYTES``."""

    def __init__(self) -> None:
        self.entries: "OrderedDict[tuple, _Plan]" = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self.entries)

    @staticmethod
    def _size(key: tuple, plan: "_Plan") -> int:
        return len(key[2]) + plan.w.element_size() * plan.w.nelement()

    def get(self, key: tuple) -> Optional["_Plan"]:
        plan = self.entries.get(key)
        if plan is not None:
            self.entries.move_to_end(key)
        return plan

    def put(self, key: tuple, plan: "_Plan") -> None:
        size = self._size(key, plan)
        if size > PLAN_CACHE_BYTES or key in self.entries:
            return
        self.entries[key] = plan
        self.nbytes += size
        while self.nbytes > PLAN_CACHE_BYTES:
            old_key, old_plan = self.entries.popitem(last=False)
            self.nbytes -= self._size(old_key, old_plan)

    def clear(self) -> None:
        self.entries.clear()
        self.nbytes = 0


_HOOK_TABLES: "weakref.WeakKeyDictionary[ComputationalGraph, _HookTable]" = weakref.WeakKeyDictionary()


def _hook_table(graph: ComputationalGraph) -> _HookTable:
    if graph not in _HOOK_TABLES:
        hooks, hook_of, position_of = [], {}, {}
        for name, downs in _input_hooks(graph):
            n_parents = graph.downstream_inputs[downs[0]].n_parents
            for position, d in enumerate(downs):
                hook_of[d], position_of[d] = len(hooks), position
            hooks.append((name, downs, n_parents, int(graph.downstream_layer[downs[0]])))
        downstream = graph.edge_downstream.numpy()
        edge_hook = np.array([hook_of[d] for d in downstream], dtype=np.int64)
        by_hook = np.argsort(edge_hook, kind="stable")
        ends = np.cumsum(np.bincount(edge_hook, minlength=len(hooks)))
        _HOOK_TABLES[graph] = _HookTable(
            hooks, np.array([position_of[d] for d in downstream]), graph.edge_upstream.numpy(),
            graph.downstream_layer[graph.edge_downstream].numpy(), by_hook,
            list(zip(np.r_[0, ends[:-1]].tolist(), ends.tolist())))
    return _HOOK_TABLES[graph]


@dataclass
class _Plan:
    """What one input hook adds: ``sum_k w[c, k, j] * delta_k`` over parent ``rows`` at its inputs ``j``.

    ``positions``: which of the hook's inputs the columns are (None = all); ``kept``: the kept-edge
    weights of a neuron-masked run; ``sparse``: go through a gather / index-add. Several hooks with the
    same parents (a layer's q, k, v) share one product: ``w`` is then all their columns, ``widths``
    how many each hook has and ``part`` which of them is this hook's.
    """

    name: str
    rows: list[int]
    w: Tensor
    kept: Optional[Tensor] = None
    positions: Optional[Tensor] = None
    sparse: bool = False
    part: int = 0
    widths: Optional[tuple[int, ...]] = None


def _share_qkv(plans: list[_Plan]) -> list[_Plan]:
    """Dense plans with a layer's q, k and v inputs reading one product: their parents are the same, so
    the deltas are read once for all three (the sums are memory-bound)."""
    groups: dict[str, list[_Plan]] = {}
    for plan in plans:
        if plan.name.endswith(tuple(f".hook_{x}_input" for x in QKV)):
            groups.setdefault(plan.name.split(".hook_")[0], []).append(plan)
    for group in groups.values():
        if len(group) < 2:
            continue
        w = torch.cat([plan.w for plan in group], dim=2)
        kept = None if group[0].kept is None else torch.cat([plan.kept for plan in group], dim=2)  # type: ignore[misc]
        widths = tuple(plan.w.shape[2] for plan in group)
        for part, plan in enumerate(group):
            plan.w, plan.kept, plan.part, plan.widths = w, kept, part, widths
    return plans


def _sparse_plans(graph: ComputationalGraph, edge_mask: Tensor, start: int) -> list[_Plan]:
    """Input-hook plans from the patched edges alone (no gradients needed): per hook with a patched
    edge, its patched parents, the patched positions among its inputs (None = all) and the weights
    ``[C, k, j]``. A hook's plan depends only on its slice of the masks, so plans are remembered per
    slice (``PLAN_CACHE_BYTES``): evaluation passes are small, and their set-up is per pass."""
    table = _hook_table(graph)
    grouped = edge_mask.detach().to(torch.float64).cpu().numpy()[:, table.by_hook]
    plans = []
    for h, (name, downs, _, layer) in enumerate(table.hooks):
        lo, hi = table.hook_bounds[h]
        part = grouped[:, lo:hi]
        if layer < start or lo == hi or (part == 1).all():
            continue
        key = (h, part.shape[0], part.tobytes(), edge_mask.device, edge_mask.dtype)
        plan = table.plans.get(key)
        if plan is None:
            plan = _hook_plan(graph, table, h, part, edge_mask)
            table.plans.put(key, plan)
        plans.append(plan)
    return plans


def _hook_plan(graph: ComputationalGraph, table: _HookTable, h: int, part: np.ndarray, edge_mask: Tensor) -> _Plan:
    """The sparse plan of hook ``h`` from its slice ``part`` (``[C, edges of the hook]``) of the masks."""
    name, downs, _, _ = table.hooks[h]
    lo, hi = table.hook_bounds[h]
    circuit, local = np.nonzero(part != 1)
    edge = table.by_hook[lo:hi][local]
    rows, k = _compact(table.edge_row[edge], graph.n_upstream)
    cols, j = _compact(table.edge_position[edge], len(downs))
    w = np.zeros((part.shape[0], len(rows), len(cols)), dtype=part.dtype)
    w[circuit, k, j] = 1.0 - part[circuit, local]
    positions = None if len(cols) == len(downs) else torch.from_numpy(cols)
    sparse = np.count_nonzero(w) < SPARSE_BELOW * w.size
    return _Plan(name, rows.tolist(), torch.from_numpy(w).to(edge_mask.device, edge_mask.dtype),
                 positions=positions, sparse=sparse)


def _compact(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``values`` (integers below ``size``) in order, and each value's index among them."""
    present = np.zeros(size, dtype=bool)
    present[values] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[values]


class _BufferedProduct(torch.autograd.Function):
    """``w^T @ stacked`` (``[C, k, j]``, ``[C, k, N]`` -> ``[C, j, N]``) where ``stacked`` is a prefix of the
    run's delta buffer, a copy without autograd of the row deltas passed after it. Gradients go to ``w``
    and to each row's delta, so no stack of the deltas is built in the forward or the backward pass. The
    buffer rows it reads are never written again in the run."""

    @staticmethod
    def forward(ctx: Any, w: Tensor, stacked: Tensor, *deltas: Tensor) -> Tensor:
        ctx.save_for_backward(w)
        ctx.stacked = stacked
        ctx.shapes = [d.shape for d in deltas]
        return torch.bmm(w.transpose(1, 2), stacked)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], ...]:
        (w,) = ctx.saved_tensors
        grad_w = torch.bmm(ctx.stacked, grad.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        grad_rows = torch.bmm(w, grad).unbind(1)  # [C, N] per row
        return (grad_w, None, *(g.view(shape) for g, shape in zip(grad_rows, ctx.shapes)))


class _PatchRun:
    """Hooks and state of one batched patched forward pass.

    Only what the masks patch is computed: an input hook is registered when some circuit patches an
    edge into it, and its correction sums over the parents patched there (all parents when gradients
    w.r.t. the masks are needed, or with neuron masks). Outputs are recorded for those parents only;
    parents before ``start`` (not recomputed) take their clean outputs.
    """

    def __init__(self, graph: ComputationalGraph, readers: list[_Reader], edge_mask: Tensor, source: Tensor,
                 batch: int, pos: int, neuron_mask: Optional[Tensor], start: int = 0,
                 clean: Optional[CleanRun] = None):
        self.graph = graph
        self.readers = readers
        self.n_circuits = edge_mask.shape[0]
        self.batch = batch
        self.source = source.unsqueeze(0)  # [1, B|1, P|1, n_up, d]
        dense = neuron_mask is not None or edge_mask.requires_grad
        weights = dense_patch_weights(graph, edge_mask) if dense else None  # [C, n_up, n_down]
        kept = None
        self.neuron_off = None
        if neuron_mask is not None:
            if neuron_mask.ndim == 2:
                neuron_mask = neuron_mask.unsqueeze(0)
            kept = dense_kept_weights(graph, edge_mask)
            self.neuron_off = (1.0 - neuron_mask)[:, None, None]  # [C|1, 1, 1, n_up, d]
        self.plans: list[_Plan] = []
        if dense:
            for name, downs, n_parents, layer in _hook_table(graph).hooks:
                if layer < start:
                    continue
                k = None if kept is None else kept[:, :n_parents][:, :, downs]
                self.plans.append(_Plan(name, list(range(n_parents)), weights[:, :n_parents][:, :, downs], k))
            self.plans = _share_qkv(self.plans)
        else:
            self.plans = _sparse_plans(graph, edge_mask, start)
        needed: set[int] = set()
        for plan in self.plans:
            needed.update(plan.rows)
        self.needed = needed
        self.deltas: dict[int, Tensor] = {}
        self.deltas_off: dict[int, Tensor] = {}
        self._stacks: dict[tuple, Tensor] = {}
        self._products: dict[int, list[Tensor]] = {}
        # deltas go straight into one node-major buffer, so the inputs read prefixes of it instead of
        # stacking: without autograd always; with it in dense runs, where `_BufferedProduct` routes the
        # gradients back to each row's delta
        self.buffer: Optional[Tensor] = None
        self.tracked = dense and neuron_mask is None and torch.is_grad_enabled()
        if needed and neuron_mask is None and (self.tracked or not torch.is_grad_enabled()):
            self.buffer = source.new_empty(self.n_circuits, max(needed) + 1, batch, pos, source.shape[-1])
        if start > 0:
            assert clean is not None
            for node in graph.upstream_nodes:
                row = node.upstream_index
                if row in needed and node.layer < start:
                    delta = self.source[..., row, :] - clean.outputs[None, ..., row, :]
                    self._store(row, delta.expand(self.n_circuits, batch, *delta.shape[2:]))

    def _store(self, row: int, delta: Tensor) -> None:
        if self.buffer is not None:
            self.buffer[:, row] = delta.detach()
            if self.tracked:
                self.deltas[row] = delta
            return
        self.deltas[row] = delta
        if self.neuron_off is not None:
            self.deltas_off[row] = delta * self.neuron_off[..., row, :]

    # -- output side
    def output_hook(self, reader: _Reader) -> Callable:
        rows = [r for r in range(reader.start, reader.start + reader.count) if r in self.needed]
        index = None if len(rows) == reader.count else [r - reader.start for r in rows]

        def hook(act: Tensor, hook: Any) -> None:
            acts = reader.rows(act, index)
            acts = acts.view(self.n_circuits, self.batch, *acts.shape[1:])
            for i, r in enumerate(rows):
                self._store(r, self.source[..., r, :] - acts[..., i, :])
        return hook

    # -- input side
    def input_hook(self, plan: _Plan) -> Callable:
        """Add ``sum_k w[c, k, j] * delta_k`` to input ``j`` of the hook (see ``_Plan``). Sparse weights
        (single-edge batches) go through a gather / index-add of the non-zero terms, dense ones through
        one batched matrix product (shared by a layer's q, k and v hooks)."""
        positions, row_list, w = plan.positions, plan.rows, plan.w
        if plan.sparse:
            c_idx, k_idx, j_idx = torch.nonzero(w, as_tuple=True)
            coef = w[c_idx, k_idx, j_idx]
            if positions is not None:
                j_idx = positions.to(j_idx.device)[j_idx]

        def hook(act: Tensor, hook: Any) -> Tensor:
            view = act.view(self.n_circuits, self.batch, *act.shape[1:])
            if plan.sparse:
                terms = self._stacked(row_list)[c_idx, k_idx] * coef[:, None, None, None]  # [E, B, P, d]
                if act.ndim == 3:  # residual-shaped input
                    return view.index_add(0, c_idx, terms).view(act.shape)
                heads_first = view.permute(0, 3, 1, 2, 4)  # [C, H, B, P, d]
                return heads_first.index_put((c_idx, j_idx), terms, accumulate=True).permute(0, 2, 3, 1, 4).reshape(act.shape)
            out = self._product(plan)
            if act.ndim == 3:
                return act + out[..., 0, :].reshape(act.shape)
            if positions is None:
                return act + out.reshape(act.shape)
            return view.index_add(3, positions.to(act.device), out).reshape(act.shape)
        return hook

    def _product(self, plan: _Plan) -> Tensor:
        """``[C, B, P, j, d]`` dense correction of ``plan``; a product shared by several hooks is computed
        once per run and split by columns (one autograd node, no zero-filled slice gradients)."""
        key = id(plan.w)
        if key not in self._products:
            deltas = self._stacked(plan.rows)
            c, k = deltas.shape[:2]
            if self.tracked:
                out = _BufferedProduct.apply(plan.w, deltas.reshape(c, k, -1), *(self.deltas[r] for r in plan.rows))
            else:
                out = torch.bmm(plan.w.transpose(1, 2), deltas.reshape(c, k, -1))  # [C, j, B*P*d]
            if plan.kept is not None:
                out = out + torch.bmm(plan.kept.transpose(1, 2), self._stacked(plan.rows, off=True).reshape(c, k, -1))
            parts = out.split(list(plan.widths), dim=1) if plan.widths else (out,)
            self._products[key] = [part.view(c, -1, *deltas.shape[2:]).movedim(1, -2) for part in parts]
        return self._products[key][plan.part]

    def _stacked(self, rows: list[int], off: bool = False) -> Tensor:
        """``[C, k, B, P, d]`` deltas of ``rows``: a view of the buffer when the rows are a prefix, else
        stacked; each row's delta is final once recorded, so stacks are shared by the hooks that need
        the same rows (a layer's q, k and v inputs)."""
        key = (off, *rows)
        if key not in self._stacks:
            if self.buffer is not None:  # rows are ascending: a prefix is a view
                prefix = rows[-1] == len(rows) - 1
                index = torch.tensor(rows, device=self.buffer.device)
                self._stacks[key] = self.buffer[:, :len(rows)] if prefix else self.buffer.index_select(1, index)
            else:
                source = self.deltas_off if off else self.deltas
                self._stacks[key] = torch.stack([source[r] for r in rows], dim=1)
        return self._stacks[key]

    # -- per-layer TransformerLens flags
    def layer_flags(self) -> dict[int, tuple[bool, bool]]:
        """Per layer: (split q/k/v inputs, hook_mlp_in) — on only where this run patches a head input or
        an MLP input. Per-head inputs make a block several times slower on CPU, so layers that need
        none run as plain blocks."""
        patched_inputs = {plan.name for plan in self.plans}
        flags = {}
        for layer in range(self.graph.cfg.n_layers):
            split = any(f"blocks.{layer}.hook_{x}_input" in patched_inputs for x in QKV)
            flags[layer] = (split, f"blocks.{layer}.hook_mlp_in" in patched_inputs)
        return flags

    def flag_hook(self, cfg: Any, flags: tuple[bool, bool]) -> Callable:
        def hook(act: Tensor, hook: Any) -> None:
            cfg.use_split_qkv_input, mlp_in = flags
            if not cfg.attn_only:
                cfg.use_hook_mlp_in = mlp_in
        return hook

    def fwd_hooks(self, cfg: Any, start: int = 0, lean: bool = False) -> list[tuple[str, Callable]]:
        """The run's hooks; with ``lean``, also the per-layer flag switches (``layer_flags``)."""
        hooks: list[tuple[str, Callable]] = [
            (f"blocks.{layer}.hook_resid_pre", self.flag_hook(cfg, flags))
            for layer, flags in self.layer_flags().items() if lean and layer >= start
        ]
        for reader in self.readers:
            if any(reader.start <= r < reader.start + reader.count for r in self.needed):
                hooks.append((reader.hook, self.output_hook(reader)))
        hooks += [(plan.name, self.input_hook(plan)) for plan in self.plans]
        return hooks


def patched_forward(model: Any, graph: ComputationalGraph, clean_tokens: Tensor, edge_mask: Tensor,
                    source: Union[PatchSource, Tensor], attention_mask: Optional[Tensor] = None,
                    neuron_mask: Optional[Tensor] = None, clean: Optional[CleanRun] = None) -> Tensor:
    """Logits of ``model`` on ``clean_tokens`` with edges where ``edge_mask < 1`` patched from ``source``.

    Args:
        edge_mask: ``[n_edges]`` or ``[C, n_edges]`` float (1 = edge kept, 0 = patched; values in
            between interpolate; differentiable).
        source: a ``PatchSource`` or precomputed activations (see ``resolve_source``).
        attention_mask: ``[batch, pos]`` padding mask of the clean tokens.
        neuron_mask: optional ``[n_upstream, d_model]`` or ``[C, n_upstream, d_model]`` (1 = kept).
        clean: the cached clean run (``CleanRun.of``) of these tokens, for evaluation-only passes: the
            pass starts at the first layer a circuit patches (unless gradients w.r.t. the masks are
            needed, with neuron masks, or for shortformer models), and blocks where nothing is patched
            or recorded run without per-head inputs and results (so outer hooks there do not fire).

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
    batch, pos = clean_tokens.shape
    source_acts = resolve_source(model, graph, source, tuple(clean_tokens.shape))
    if neuron_mask is not None:
        neuron_mask = neuron_mask.to(device=device, dtype=dtype)
    start = 0
    if may_start_late(model, clean, clean_tokens, neuron_mask is not None or masks.requires_grad):
        start = pass_start_layer(graph, masks)
    run = _PatchRun(graph, _readers(model, graph), masks, source_acts, batch, pos, neuron_mask, start, clean)
    hooks = run.fwd_hooks(model.cfg, start, lean=clean is not None)
    logits = run_circuits(model, clean_tokens, n_circuits, hooks, attention_mask, clean, start)
    return logits[0] if single else logits


def may_start_late(model: Any, clean: Optional[CleanRun], clean_tokens: Tensor, from_layer_0: bool) -> bool:
    """Whether a pass may start part-way through the model from ``clean``: not without a clean run,
    not when the caller needs every layer (``from_layer_0``: gradients w.r.t. the masks, neuron
    masks), not for shortformer models. Raises if ``clean`` is of other tokens."""
    if clean is None or from_layer_0 or model.cfg.positional_embedding_type == "shortformer":
        return False
    if not clean.matches(clean_tokens):
        raise ValueError("the cached clean run is of other tokens than clean_tokens")
    return True


def run_circuits(model: Any, clean_tokens: Tensor, n_circuits: int, hooks: Sequence[tuple[str, Callable]],
                 attention_mask: Optional[Tensor] = None, clean: Optional[CleanRun] = None, start: int = 0,
                 plain_blocks: bool = False) -> Tensor:
    """``[C, batch, pos, d_vocab]`` logits of ``n_circuits`` copies of the clean batch run with ``hooks``,
    from block ``start`` (``clean``'s residual stream there), without per-head results and with the
    short-row attention softmax (``utils.softmax``; so do the runs that collect node outputs). With
    ``plain_blocks``, no block splits its q/k/v inputs or hooks its MLP input; the flags the hooks or
    this switch change are restored afterwards."""
    device, _ = _model_device_dtype(model)
    if attention_mask is None and clean is not None:
        attention_mask = clean.attention_mask
    kwargs = {}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask.to(device).repeat(n_circuits, 1)
    if start == 0:
        model_input = clean_tokens.to(device).repeat(n_circuits, 1)
    else:
        assert clean is not None
        model_input = clean.resid[start].repeat(n_circuits, 1, 1)
        kwargs["start_at_layer"] = start
    cfg = model.cfg
    saved = (cfg.use_split_qkv_input, cfg.use_hook_mlp_in)
    try:
        if plain_blocks:
            cfg.use_split_qkv_input = False
            if not cfg.attn_only:
                cfg.use_hook_mlp_in = False
        with _without_head_results(model), temporary_hooks(model, hooks), fast_attention_softmax():
            logits = model(model_input, **kwargs)
    finally:
        cfg.use_split_qkv_input, cfg.use_hook_mlp_in = saved
    return logits.view(n_circuits, clean_tokens.shape[0], *logits.shape[1:])


def default_circuits_per_batch(model: Any, clean_tokens: Tensor) -> int:
    """Circuits per patched forward when the caller does not say: on CPU, where a forward costs in
    proportion to its size, about 512 token positions per forward; on accelerators up to 64 circuits."""
    device, _ = _model_device_dtype(model)
    if device.type == "cpu":
        return max(1, min(64, 512 // max(1, clean_tokens.numel())))
    return 64


def evaluate_edge_masks(model: Any, graph: ComputationalGraph, clean_tokens: Tensor, edge_masks: Tensor,
                        source: Union[PatchSource, Tensor], metric: Callable[[Tensor], Tensor],
                        attention_mask: Optional[Tensor] = None, circuits_per_batch: Optional[int] = None,
                        progress: bool = True) -> Tensor:
    """``metric`` for many circuits: ``edge_masks [N, n_edges]`` -> ``[N]`` (no gradients).

    ``metric`` maps ``[C, batch, pos, d_vocab]`` logits to ``[C]`` values. The source and the clean
    run are computed once; circuits run ``circuits_per_batch`` at a time (default
    ``default_circuits_per_batch``), grouped by the first layer they patch so that each pass starts there.
    """
    source_acts = resolve_source(model, graph, source, tuple(clean_tokens.shape), progress)
    per_batch = circuits_per_batch or default_circuits_per_batch(model, clean_tokens)
    clean = CleanRun.of(model, graph, clean_tokens, attention_mask)
    chunks = start_layer_chunks(graph, edge_masks, per_batch)
    values: list[Tensor] = []
    with torch.no_grad():
        for chunk in tqdm(chunks, desc="patched forwards", disable=not progress or len(chunks) < 4):
            logits = patched_forward(model, graph, clean_tokens, edge_masks[chunk.to(edge_masks.device)],
                                     source_acts, attention_mask, clean=clean)
            values.append(metric(logits).detach())
    if not values:
        return torch.empty(0)
    in_order = torch.cat(values)
    results = torch.empty_like(in_order)
    results[torch.cat(chunks).to(results.device)] = in_order
    return results


def start_layer_chunks(graph: ComputationalGraph, edge_masks: Tensor, per_batch: int,
                       one_layer: bool = False) -> list[Tensor]:
    """Indices of ``edge_masks [N, n_edges]`` in chunks of at most ``per_batch``, ordered by the first
    layer each mask patches (so a pass with ``CleanRun`` starts late); with ``one_layer``, no chunk
    mixes first layers (more passes, none started earlier than its circuits need)."""
    return chunks_by_start(_first_patched_layer(graph, edge_masks), per_batch, one_layer)


def chunks_by_start(first: Tensor, per_batch: int, one_layer: bool) -> list[Tensor]:
    """Indices ``0 .. N-1`` ordered by their start layer ``first [N]``, in chunks of at most ``per_batch``
    (with ``one_layer``, a chunk never spans two start layers)."""
    order = torch.argsort(first, stable=True)
    groups = torch.unique_consecutive(first[order], return_counts=True)[1].tolist() if one_layer else [len(order)]
    chunks, at = [], 0
    for size in groups:
        chunks += list(order[at:at + size].split(per_batch))
        at += size
    return chunks


def _first_patched_layer(graph: ComputationalGraph, edge_masks: Tensor) -> Tensor:
    """``[N]``: per mask, the earliest layer it patches an edge into (``n_layers`` if none)."""
    layers = _hook_table(graph).edge_layer
    patched = (edge_masks.detach() != 1).cpu().numpy()
    return torch.from_numpy(np.where(patched, layers, graph.cfg.n_layers).min(-1))


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
