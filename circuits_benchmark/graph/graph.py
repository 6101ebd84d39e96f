"""The computational graph of a HookedTransformer, at edge, node and neuron granularity.

Nodes follow the MIB / EAP-IG naming:

* ``input``      output ``blocks.0.hook_resid_pre`` (token + positional embedding);
* ``a{L}.h{H}``  output ``blocks.{L}.attn.hook_result[:, :, H]``,
                 inputs ``blocks.{L}.hook_{q,k,v}_input[:, :, H]``;
* ``m{L}``       input ``blocks.{L}.hook_mlp_in``, output ``blocks.{L}.hook_mlp_out``;
* ``logits``     input ``blocks.{n_layers-1}.hook_resid_post``.

Note: EAP-IG/MIB take the input node's output at ``hook_embed`` (positional embeddings belong
to no node there). Here, as specified for this project, it is ``blocks.0.hook_resid_pre``, so
positional embeddings are part of the input node. Under corrupted-input patching (same positions)
both choices give identical results; they differ for zero / mean ablation of input edges.

Every node with an output is an *upstream* node (indexed in ``graph.upstream_nodes``); every
node input (one per q/k/v of a head, one per MLP, one for logits) is a *downstream input*
(indexed in ``graph.downstream_inputs``). Upstream order = EAP-IG's forward index order
(input, then per layer the heads and the MLP); downstream order = EAP-IG's backward index order
(per layer: q of all heads, k of all heads, v of all heads, the MLP; logits last). Edge order is
EAP-IG's insertion order, which is topological by the child's layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any, Iterable, Mapping, Optional, Union

import torch

QKV: tuple[str, str, str] = ("q", "k", "v")


class NodeKind(str, Enum):
    """The four kinds of graph nodes."""

    INPUT = "input"
    ATTENTION = "attention"
    MLP = "mlp"
    LOGITS = "logits"


@dataclass(frozen=True)
class GraphConfig:
    """The model facts that fix the graph's shape (the MIB JSON ``cfg`` plus ``has_mlp``)."""

    n_layers: int
    n_heads: int
    d_model: int
    parallel_attn_mlp: bool = False
    has_mlp: bool = True

    @classmethod
    def from_any(cls, model_or_cfg: Any) -> "GraphConfig":
        """Build from a HookedTransformer, a HookedTransformerConfig, a GraphConfig or a dict."""
        if isinstance(model_or_cfg, GraphConfig):
            return model_or_cfg
        cfg = getattr(model_or_cfg, "cfg", model_or_cfg)
        if isinstance(cfg, Mapping):
            get = cfg.get
        else:
            def get(key: str, default: Any = None) -> Any:
                return getattr(cfg, key, default)
        missing = [k for k in ("n_layers", "n_heads", "d_model") if get(k) is None]
        if missing:
            raise ValueError(f"model config lacks {missing}")
        has_mlp = get("has_mlp")
        if has_mlp is None:
            has_mlp = not bool(get("attn_only", False))
        return cls(
            n_layers=int(get("n_layers")),
            n_heads=int(get("n_heads")),
            d_model=int(get("d_model")),
            parallel_attn_mlp=bool(get("parallel_attn_mlp", False)),
            has_mlp=bool(has_mlp),
        )

    def to_mib_dict(self) -> dict[str, Any]:
        """The ``cfg`` entry of an MIB circuit file."""
        return {
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "parallel_attn_mlp": self.parallel_attn_mlp,
            "d_model": self.d_model,
        }


@dataclass(frozen=True)
class Node:
    """A graph node: its name, kind, TransformerLens hooks and indices.

    ``layer`` is -1 for ``input`` and ``n_layers`` for ``logits`` (convenient for layouts).
    ``output_hook`` is None for logits; ``input_hooks`` is () for input, (q, k, v) hooks for a
    head. ``head`` indexes the head dimension of the head's hooks. ``upstream_index`` is the
    node's row in activation tensors (None for logits).
    """

    name: str
    kind: NodeKind
    index: int
    layer: int
    head: Optional[int]
    output_hook: Optional[str]
    input_hooks: tuple[str, ...]
    upstream_index: Optional[int]

    @property
    def is_head(self) -> bool:
        return self.kind is NodeKind.ATTENTION


@dataclass(frozen=True)
class DownstreamInput:
    """One input of a node: ``a{L}.h{H}<q|k|v>``, ``m{L}`` or ``logits``.

    Upstream nodes ``[0, n_parents)`` feed it.
    """

    name: str
    node: Node
    qkv: Optional[str]
    hook_name: str
    index: int
    n_parents: int


@dataclass(frozen=True)
class Edge:
    """An edge ``parent->child`` (``<q|k|v>`` suffix when the child is a head)."""

    name: str
    parent: Node
    child: Node
    qkv: Optional[str]
    index: int
    upstream_index: int
    downstream_index: int


def edge_name(parent: str, child: str, qkv: Optional[str] = None) -> str:
    """The MIB name of an edge."""
    return f"{parent}->{child}" if qkv is None else f"{parent}->{child}<{qkv}>"


class ComputationalGraph:
    """Nodes, downstream inputs and edges of a transformer, with index tensors for masks.

    Edge masks are ``[n_edges]`` (or ``[n_circuits, n_edges]``) vectors in ``graph.edges``
    order; ``edge_upstream[e]`` / ``edge_downstream[e]`` give the upstream node row and the
    downstream input index of edge ``e``.
    """

    def __init__(self, cfg: GraphConfig):
        self.cfg = cfg
        self.nodes: list[Node] = []
        self.upstream_nodes: list[Node] = []
        self.downstream_inputs: list[DownstreamInput] = []
        self.edges: list[Edge] = []
        self._build()
        self.node_by_name: dict[str, Node] = {n.name: n for n in self.nodes}
        self.downstream_by_name: dict[str, DownstreamInput] = {d.name: d for d in self.downstream_inputs}
        self.edge_by_name: dict[str, Edge] = {e.name: e for e in self.edges}
        self.edge_upstream = torch.tensor([e.upstream_index for e in self.edges], dtype=torch.long)
        self.edge_downstream = torch.tensor([e.downstream_index for e in self.edges], dtype=torch.long)
        self.edge_parent = torch.tensor([e.parent.index for e in self.edges], dtype=torch.long)
        self.edge_child = torch.tensor([e.child.index for e in self.edges], dtype=torch.long)
        self.node_upstream_index = torch.tensor(
            [-1 if n.upstream_index is None else n.upstream_index for n in self.nodes], dtype=torch.long
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model_or_cfg: Any) -> "ComputationalGraph":
        """The graph of a HookedTransformer, its cfg, a GraphConfig or an MIB ``cfg`` dict."""
        return cls(GraphConfig.from_any(model_or_cfg))

    def _add_node(self, name: str, kind: NodeKind, layer: int, head: Optional[int],
                  output_hook: Optional[str], input_hooks: tuple[str, ...]) -> Node:
        upstream_index = None if kind is NodeKind.LOGITS else len(self.upstream_nodes)
        node = Node(name, kind, len(self.nodes), layer, head, output_hook, input_hooks, upstream_index)
        self.nodes.append(node)
        if upstream_index is not None:
            self.upstream_nodes.append(node)
        return node

    def _add_downstream(self, node: Node, qkv: Optional[str], hook_name: str, n_parents: int) -> None:
        name = node.name if qkv is None else f"{node.name}<{qkv}>"
        self.downstream_inputs.append(
            DownstreamInput(name, node, qkv, hook_name, len(self.downstream_inputs), n_parents)
        )

    def _add_edge(self, parent: Node, child: Node, qkv: Optional[str]) -> None:
        down_name = child.name if qkv is None else f"{child.name}<{qkv}>"
        down = self._pending_downstream[down_name]
        assert parent.upstream_index is not None
        self.edges.append(
            Edge(edge_name(parent.name, child.name, qkv), parent, child, qkv, len(self.edges),
                 parent.upstream_index, down)
        )

    def _build(self) -> None:
        cfg = self.cfg
        self._pending_downstream: dict[str, int] = {}
        input_node = self._add_node("input", NodeKind.INPUT, -1, None, "blocks.0.hook_resid_pre", ())
        residual: list[Node] = [input_node]
        for layer in range(cfg.n_layers):
            heads = [
                self._add_node(
                    f"a{layer}.h{h}", NodeKind.ATTENTION, layer, h, f"blocks.{layer}.attn.hook_result",
                    tuple(f"blocks.{layer}.hook_{x}_input" for x in QKV),
                )
                for h in range(cfg.n_heads)
            ]
            n_before_heads = len(self.upstream_nodes) - cfg.n_heads
            for i, x in enumerate(QKV):
                for head in heads:
                    self._pending_downstream[f"{head.name}<{x}>"] = len(self.downstream_inputs)
                    self._add_downstream(head, x, head.input_hooks[i], n_before_heads)
            mlp = None
            if cfg.has_mlp:
                mlp = self._add_node(f"m{layer}", NodeKind.MLP, layer, None, f"blocks.{layer}.hook_mlp_out",
                                     (f"blocks.{layer}.hook_mlp_in",))
                n_mlp_parents = n_before_heads if cfg.parallel_attn_mlp else n_before_heads + cfg.n_heads
                self._pending_downstream[mlp.name] = len(self.downstream_inputs)
                self._add_downstream(mlp, None, mlp.input_hooks[0], n_mlp_parents)
            # edges, in EAP-IG's insertion order
            if cfg.parallel_attn_mlp:
                for parent in residual:
                    for head in heads:
                        for x in QKV:
                            self._add_edge(parent, head, x)
                    if mlp is not None:
                        self._add_edge(parent, mlp, None)
                residual += heads
            else:
                for parent in residual:
                    for head in heads:
                        for x in QKV:
                            self._add_edge(parent, head, x)
                residual += heads
                if mlp is not None:
                    for parent in residual:
                        self._add_edge(parent, mlp, None)
            if mlp is not None:
                residual.append(mlp)
        last = cfg.n_layers - 1
        logits = self._add_node("logits", NodeKind.LOGITS, cfg.n_layers, None, None,
                                (f"blocks.{last}.hook_resid_post",))
        self._pending_downstream["logits"] = len(self.downstream_inputs)
        self._add_downstream(logits, None, logits.input_hooks[0], len(self.upstream_nodes))
        for parent in residual:
            self._add_edge(parent, logits, None)
        del self._pending_downstream

    # ------------------------------------------------------------------ sizes and lookups
    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def n_upstream(self) -> int:
        return len(self.upstream_nodes)

    @property
    def n_downstream(self) -> int:
        return len(self.downstream_inputs)

    def __repr__(self) -> str:
        return (f"ComputationalGraph(n_layers={self.cfg.n_layers}, n_heads={self.cfg.n_heads}, "
                f"nodes={self.n_nodes}, edges={self.n_edges})")

    def node(self, name: str) -> Node:
        """The node called ``name`` (KeyError naming it if unknown)."""
        try:
            return self.node_by_name[name]
        except KeyError:
            raise KeyError(f"unknown node {name!r}") from None

    def node_index(self, name: str) -> int:
        return self.node(name).index

    def edge(self, name_or_index: Union[str, int]) -> Edge:
        """The edge with this name or index."""
        if isinstance(name_or_index, str):
            try:
                return self.edge_by_name[name_or_index]
            except KeyError:
                raise KeyError(f"unknown edge {name_or_index!r}") from None
        return self.edges[int(name_or_index)]

    def edge_index(self, name: str) -> int:
        return self.edge(name).index

    def edge_name(self, index: int) -> str:
        return self.edges[int(index)].name

    def edge_indices(self, names: Iterable[Union[str, int]]) -> torch.Tensor:
        """Indices of edges given by names (or indices), as a LongTensor."""
        return torch.tensor([self.edge(n).index for n in names], dtype=torch.long)

    def edge_names(self, indices: Optional[Iterable[int]] = None) -> list[str]:
        """Names of the given edge indices (all edges if None)."""
        if indices is None:
            return [e.name for e in self.edges]
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        return [self.edges[int(i)].name for i in indices]

    def edges_out_of(self, node: Union[str, Node]) -> torch.Tensor:
        """Indices of the edges leaving a node."""
        idx = self.node(node).index if isinstance(node, str) else node.index
        return torch.nonzero(self.edge_parent == idx).flatten()

    def edges_into(self, node: Union[str, Node]) -> torch.Tensor:
        """Indices of the edges entering a node (all of q/k/v for a head)."""
        idx = self.node(node).index if isinstance(node, str) else node.index
        return torch.nonzero(self.edge_child == idx).flatten()

    @cached_property
    def dense_edge_index(self) -> torch.Tensor:
        """``[n_upstream, n_downstream]`` edge index, -1 where no edge exists."""
        dense = torch.full((self.n_upstream, self.n_downstream), -1, dtype=torch.long)
        dense[self.edge_upstream, self.edge_downstream] = torch.arange(self.n_edges)
        return dense

    @cached_property
    def node_pair_index(self) -> tuple[torch.Tensor, list[tuple[str, str]]]:
        """Collapse q/k/v: for each edge, the index of its (parent, child node) pair, and the pairs."""
        pairs: dict[tuple[str, str], int] = {}
        index = []
        for e in self.edges:
            key = (e.parent.name, e.child.name)
            index.append(pairs.setdefault(key, len(pairs)))
        return torch.tensor(index, dtype=torch.long), list(pairs)

    # ------------------------------------------------------------------ masks
    def full_edge_mask(self, value: float = 1.0, dtype: torch.dtype = torch.float32,
                       device: Union[str, torch.device, None] = None) -> torch.Tensor:
        """An ``[n_edges]`` mask filled with ``value`` (1 = keep every edge)."""
        return torch.full((self.n_edges,), float(value), dtype=dtype, device=device)

    def edge_mask_from_names(self, kept: Iterable[Union[str, int]], dtype: torch.dtype = torch.float32,
                             device: Union[str, torch.device, None] = None) -> torch.Tensor:
        """A float mask keeping exactly the given edges (1 = kept)."""
        mask = torch.zeros(self.n_edges, dtype=dtype, device=device)
        idx = self.edge_indices(kept).to(mask.device)
        mask[idx] = 1.0
        return mask

    def node_mask_to_edge_mask(self, node_mask: torch.Tensor) -> torch.Tensor:
        """Node mask ``[..., n_nodes]`` -> edge mask ``[..., n_edges]``.

        A node's mask value applies to all of its *outgoing* edges (removing a node = patching
        its output everywhere); the value of ``logits`` is ignored. Differentiable.
        """
        if node_mask.shape[-1] != self.n_nodes:
            raise ValueError(f"node mask has {node_mask.shape[-1]} entries, graph has {self.n_nodes} nodes")
        return node_mask[..., self.edge_parent.to(node_mask.device)]

    def node_mask_from_names(self, kept: Iterable[str], dtype: torch.dtype = torch.float32,
                             device: Union[str, torch.device, None] = None) -> torch.Tensor:
        """A ``[n_nodes]`` float mask keeping exactly the named nodes."""
        mask = torch.zeros(self.n_nodes, dtype=dtype, device=device)
        for name in kept:
            mask[self.node_index(name)] = 1.0
        return mask

    def full_neuron_mask(self, value: float = 1.0, dtype: torch.dtype = torch.float32,
                         device: Union[str, torch.device, None] = None) -> torch.Tensor:
        """An ``[n_upstream, d_model]`` neuron mask (1 = neuron kept), rows in upstream order."""
        return torch.full((self.n_upstream, self.cfg.d_model), float(value), dtype=dtype, device=device)

    @cached_property
    def downstream_layer(self) -> torch.Tensor:
        """``[n_downstream]`` layer of each downstream input's node (``n_layers`` for logits)."""
        return torch.tensor([d.node.layer for d in self.downstream_inputs], dtype=torch.long)

    @cached_property
    def layer_inputs(self) -> list[dict[str, list[int]]]:
        """Per layer, the downstream-input indices ``{"q": [...], "k": [...], "v": [...], "mlp": [...]}``."""
        return [layer_downstream_indices(self, layer) for layer in range(self.cfg.n_layers)]

    def upstream_names(self) -> list[str]:
        return [n.name for n in self.upstream_nodes]

    def downstream_names(self) -> list[str]:
        return [d.name for d in self.downstream_inputs]


def prepare_model(model: Any) -> Any:
    """Set the TransformerLens flags the patching engine needs; return the model.

    Sets ``use_attn_result``, ``use_split_qkv_input``, ``use_hook_mlp_in`` (when the model has
    MLPs) and ungroups grouped-query attention. Raises for architectures where node outputs do
    not sum into node inputs (post-norm, normalisation before and after).
    """
    cfg = model.cfg
    if getattr(cfg, "use_normalization_before_and_after", False):
        raise ValueError("models with normalization before and after sublayers are not linear in node outputs")
    try:
        from transformer_lens.utilities.architectures import POST_NORM_ARCHITECTURES
    except Exception:  # pragma: no cover - older TransformerLens
        POST_NORM_ARCHITECTURES = ()
    if getattr(cfg, "original_architecture", None) in POST_NORM_ARCHITECTURES:
        raise ValueError(f"post-norm architecture {cfg.original_architecture} is not supported")
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    if not cfg.attn_only:
        model.set_use_hook_mlp_in(True)
    if getattr(cfg, "n_key_value_heads", None) is not None and hasattr(model, "set_ungroup_grouped_query_attention"):
        model.set_ungroup_grouped_query_attention(True)
    return model


def check_model_prepared(model: Any) -> None:
    """Raise a clear error if ``prepare_model`` has not been applied."""
    cfg = model.cfg
    missing = [flag for flag in ("use_attn_result", "use_split_qkv_input") if not getattr(cfg, flag, False)]
    if not cfg.attn_only and not getattr(cfg, "use_hook_mlp_in", False):
        missing.append("use_hook_mlp_in")
    if missing:
        raise ValueError(f"model is missing TransformerLens flags {missing}; call prepare_model(model) first")


def layer_downstream_indices(graph: ComputationalGraph, layer: int) -> dict[str, list[int]]:
    """Downstream-input indices of layer ``layer``: ``{"q": [...], "k": [...], "v": [...], "mlp": [...]}``."""
    out: dict[str, list[int]] = {"q": [], "k": [], "v": [], "mlp": []}
    for d in graph.downstream_inputs:
        if d.node.layer != layer:
            continue
        if d.qkv is not None:
            out[d.qkv].append(d.index)
        elif d.node.kind is NodeKind.MLP:
            out["mlp"].append(d.index)
    return out
