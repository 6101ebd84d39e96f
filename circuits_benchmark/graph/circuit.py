"""Circuits over a ComputationalGraph: per-edge / per-node scores plus ``in_graph`` flags.

Selection (``top_n``, ``top_fraction``, ``top_percent``, ``threshold``, ``greedy``) returns a new
Circuit. Ties are broken by edge order (lower index first). With ``prune=True`` (default) the
result only keeps edges on a path input -> logits through kept edges: an edge stays iff its
parent is reachable from ``input`` and its child reaches ``logits``. Nodes are promoted from
edges: a node is in the graph iff one of its kept edges touches it (a head is in the graph if any
of its q/k/v edges is); ``logits`` is always in the graph (MIB convention).

Differences from EAP-IG's Graph worth knowing: EAP-IG's ``prune()`` iterates node/edge removal
and may leave nodes without a path; here pruning is by reachability (both directions), so no
dangling edges or childless nodes remain. NaN edge scores sort last.
"""

from __future__ import annotations

import heapq
import math
from typing import Optional, Union

import numpy as np
import torch

from .graph import ComputationalGraph

Tensor = torch.Tensor


class _Adjacency:
    """Per-node incoming / outgoing edge index arrays (numpy), cached per graph."""

    def __init__(self, graph: ComputationalGraph):
        parent = graph.edge_parent.numpy()
        child = graph.edge_child.numpy()
        self.parent, self.child = parent, child
        order_in = np.argsort(child, kind="stable")
        order_out = np.argsort(parent, kind="stable")
        bounds_in = np.searchsorted(child[order_in], np.arange(graph.n_nodes + 1))
        bounds_out = np.searchsorted(parent[order_out], np.arange(graph.n_nodes + 1))
        self.into = [order_in[bounds_in[i]:bounds_in[i + 1]] for i in range(graph.n_nodes)]
        self.out_of = [order_out[bounds_out[i]:bounds_out[i + 1]] for i in range(graph.n_nodes)]
        self.input_index = graph.node_index("input")
        self.logits_index = graph.node_index("logits")

    @classmethod
    def of(cls, graph: ComputationalGraph) -> "_Adjacency":
        """The adjacency of ``graph``, built once and stored on the graph."""
        adj = graph.__dict__.get("_adjacency")
        if adj is None:
            adj = graph.__dict__["_adjacency"] = cls(graph)
        return adj


def prune_edges(graph: ComputationalGraph, edge_in_graph: Tensor) -> Tensor:
    """Keep only edges on an input -> logits path of kept edges: bool ``[n_edges]``, or
    ``[n_masks, n_edges]`` for a batch of masks (one sweep over the nodes serves them all)."""
    adj = _Adjacency.of(graph)
    kept = edge_in_graph.detach().cpu().numpy().astype(bool)
    batch = kept.reshape(-1, graph.n_edges)
    n = graph.n_nodes
    from_input = np.zeros((len(batch), n), dtype=bool)
    from_input[:, adj.input_index] = True
    for v in range(n):  # nodes are in topological order
        edges = adj.into[v]
        if len(edges) and v != adj.input_index:
            from_input[:, v] = np.any(batch[:, edges] & from_input[:, adj.parent[edges]], axis=1)
    to_logits = np.zeros((len(batch), n), dtype=bool)
    to_logits[:, adj.logits_index] = True
    for u in range(n - 1, -1, -1):
        edges = adj.out_of[u]
        if len(edges) and u != adj.logits_index:
            to_logits[:, u] = np.any(batch[:, edges] & to_logits[:, adj.child[edges]], axis=1)
    result = batch & from_input[:, adj.parent] & to_logits[:, adj.child]
    return torch.from_numpy(result.reshape(kept.shape))


def nodes_from_edges(graph: ComputationalGraph, edge_in_graph: Tensor) -> Tensor:
    """Bool ``[n_nodes]``: nodes touched by a kept edge; ``logits`` always True."""
    nodes = torch.zeros(graph.n_nodes, dtype=torch.bool)
    kept = edge_in_graph.detach().cpu().bool()
    nodes[graph.edge_parent[kept]] = True
    nodes[graph.edge_child[kept]] = True
    nodes[graph.node_index("logits")] = True
    return nodes


def _ranking_key(scores: Tensor, absolute: bool) -> Tensor:
    key = scores.abs() if absolute else scores.clone()
    return torch.nan_to_num(key.to(torch.float64), nan=-math.inf)


def rank_edges(scores: Tensor, absolute: bool = True) -> Tensor:
    """Edge indices from best to worst; ties broken by edge index; NaN last."""
    key = _ranking_key(scores, absolute)
    return torch.sort(key, descending=True, stable=True).indices


class Circuit:
    """Scores and membership of edges, nodes and (optionally) neurons over a graph.

    Attributes:
        edge_scores: float64 ``[n_edges]`` (NaN = unscored).
        edge_in_graph: bool ``[n_edges]``.
        node_in_graph: bool ``[n_nodes]``.
        node_scores: optional float64 ``[n_nodes]`` (NaN = unscored).
        neuron_in_graph / neuron_scores: optional ``[n_upstream, d_model]`` (bool / float64).
    """

    def __init__(self, graph: ComputationalGraph, edge_scores: Optional[Tensor] = None,
                 edge_in_graph: Optional[Tensor] = None, node_in_graph: Optional[Tensor] = None,
                 node_scores: Optional[Tensor] = None, neuron_in_graph: Optional[Tensor] = None,
                 neuron_scores: Optional[Tensor] = None):
        self.graph = graph
        self.edge_scores = self._vector(edge_scores, graph.n_edges, torch.float64, "edge_scores", 0.0)
        self.edge_in_graph = self._vector(edge_in_graph, graph.n_edges, torch.bool, "edge_in_graph", False)
        if node_in_graph is None:
            self.node_in_graph = nodes_from_edges(graph, self.edge_in_graph)
        else:
            self.node_in_graph = self._vector(node_in_graph, graph.n_nodes, torch.bool, "node_in_graph", False)
        self.node_scores = None if node_scores is None else self._vector(
            node_scores, graph.n_nodes, torch.float64, "node_scores", 0.0)
        shape = (graph.n_upstream, graph.cfg.d_model)
        self.neuron_in_graph = None if neuron_in_graph is None else self._matrix(neuron_in_graph, shape, torch.bool, "neuron_in_graph")
        self.neuron_scores = None if neuron_scores is None else self._matrix(neuron_scores, shape, torch.float64, "neuron_scores")

    @staticmethod
    def _vector(value: Optional[Tensor], n: int, dtype: torch.dtype, what: str, default: float) -> Tensor:
        if value is None:
            return torch.full((n,), default, dtype=dtype)
        value = torch.as_tensor(value).detach().cpu().to(dtype).clone()
        if value.shape != (n,):
            raise ValueError(f"{what} has shape {tuple(value.shape)}, expected ({n},)")
        return value

    @staticmethod
    def _matrix(value: Tensor, shape: tuple[int, int], dtype: torch.dtype, what: str) -> Tensor:
        value = torch.as_tensor(value).detach().cpu().to(dtype).clone()
        if tuple(value.shape) != shape:
            raise ValueError(f"{what} has shape {tuple(value.shape)}, expected {shape}")
        return value

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_scores(cls, graph: ComputationalGraph, edge_scores: Tensor, node_scores: Optional[Tensor] = None) -> "Circuit":
        """Scores only; every edge in the graph (select with ``top_n`` etc.)."""
        return cls(graph, edge_scores, torch.ones(graph.n_edges, dtype=torch.bool), node_scores=node_scores)

    @classmethod
    def full(cls, graph: ComputationalGraph) -> "Circuit":
        return cls(graph, edge_in_graph=torch.ones(graph.n_edges, dtype=torch.bool))

    @classmethod
    def empty(cls, graph: ComputationalGraph) -> "Circuit":
        return cls(graph, edge_in_graph=torch.zeros(graph.n_edges, dtype=torch.bool))

    @classmethod
    def from_edges(cls, graph: ComputationalGraph, edges: list[Union[str, int]],
                   edge_scores: Optional[Tensor] = None, prune: bool = False) -> "Circuit":
        """The circuit made of the named (or indexed) edges."""
        in_graph = torch.zeros(graph.n_edges, dtype=torch.bool)
        in_graph[graph.edge_indices(edges)] = True
        circuit = cls(graph, edge_scores, in_graph)
        return circuit.prune() if prune else circuit

    def copy(self, edge_in_graph: Optional[Tensor] = None, node_in_graph: Optional[Tensor] = None) -> "Circuit":
        """A copy, optionally with new edge / node membership (nodes re-derived if only edges given)."""
        new_edges = self.edge_in_graph if edge_in_graph is None else edge_in_graph
        if node_in_graph is None and edge_in_graph is None:
            node_in_graph = self.node_in_graph
        return Circuit(self.graph, self.edge_scores, new_edges, node_in_graph, self.node_scores,
                       self.neuron_in_graph, self.neuron_scores)

    # ------------------------------------------------------------------ selection
    def _select(self, in_graph: Tensor, prune: bool) -> "Circuit":
        if prune:
            in_graph = prune_edges(self.graph, in_graph)
        circuit = self.copy(edge_in_graph=in_graph)
        if circuit.neuron_in_graph is not None:
            circuit.neuron_in_graph &= circuit.node_in_graph[self._upstream_node_rows()][:, None]
        return circuit

    def _upstream_node_rows(self) -> Tensor:
        return torch.tensor([n.index for n in self.graph.upstream_nodes], dtype=torch.long)

    def top_n(self, n: int, absolute: bool = True, prune: bool = True) -> "Circuit":
        """The ``n`` best-scored edges (then pruned: may end with fewer)."""
        n = int(n)
        if not 0 <= n <= self.graph.n_edges:
            raise ValueError(f"n={n} outside [0, {self.graph.n_edges}]")
        in_graph = torch.zeros(self.graph.n_edges, dtype=torch.bool)
        in_graph[rank_edges(self.edge_scores, absolute)[:n]] = True
        return self._select(in_graph, prune)

    def top_fraction(self, fraction: float, absolute: bool = True, prune: bool = True) -> "Circuit":
        """``top_n(int(fraction * n_edges))`` (MIB's rounding)."""
        return self.top_n(int(fraction * self.graph.n_edges), absolute, prune)

    def top_percent(self, percent: float, absolute: bool = True, prune: bool = True) -> "Circuit":
        """``top_fraction(percent / 100)``."""
        return self.top_fraction(percent / 100.0, absolute, prune)

    def threshold(self, t: float, absolute: bool = True, prune: bool = True) -> "Circuit":
        """Edges whose (absolute) score is >= ``t``."""
        return self._select(_ranking_key(self.edge_scores, absolute) >= float(t), prune)

    def greedy(self, n: int, absolute: bool = True, prune: bool = True) -> "Circuit":
        """Grow from ``logits`` backwards: repeatedly add the best edge whose child is in the circuit.

        Ties by edge index. This is MIB's ``apply_greedy`` rule (used for the InterpBench AUROC).
        """
        graph, adj = self.graph, _Adjacency.of(self.graph)
        key = _ranking_key(self.edge_scores, absolute).numpy()
        in_graph = np.zeros(graph.n_edges, dtype=bool)
        node_in = np.zeros(graph.n_nodes, dtype=bool)
        heap: list[tuple[float, int]] = []

        def open_node(v: int) -> None:
            node_in[v] = True
            for e in adj.into[v]:
                heapq.heappush(heap, (-key[e], int(e)))

        open_node(adj.logits_index)
        for _ in range(int(n)):
            if not heap:
                break
            _, e = heapq.heappop(heap)
            in_graph[e] = True
            if not node_in[adj.parent[e]]:
                open_node(int(adj.parent[e]))
        return self._select(torch.from_numpy(in_graph), prune)

    def prune(self) -> "Circuit":
        """Drop edges not on an input -> logits path; re-derive nodes."""
        return self._select(self.edge_in_graph.clone(), True)

    # ------------------------------------------------------------------ views
    def node_induced(self) -> "Circuit":
        """The circuit with every edge of the graph between two of its nodes (q/k/v inputs of its heads
        included). For a trained model whose circuit is known per node (IIT constrains nodes, not the
        paths between them), this is the edge set its nodes may use."""
        on = self.node_in_graph
        return Circuit(self.graph, edge_in_graph=on[self.graph.edge_parent] & on[self.graph.edge_child],
                       node_in_graph=on)

    @property
    def n_edges(self) -> int:
        """Number of edges in the graph."""
        return int(self.edge_in_graph.sum())

    @property
    def n_nodes(self) -> int:
        return int(self.node_in_graph.sum())

    def edge_names(self) -> list[str]:
        """Names of the edges in the circuit, in edge order."""
        return self.graph.edge_names(torch.nonzero(self.edge_in_graph).flatten())

    def node_names(self) -> list[str]:
        return [n.name for n in self.graph.nodes if self.node_in_graph[n.index]]

    def node_pairs(self) -> set[tuple[str, str]]:
        """Kept edges with q/k/v collapsed to the head: ``{(parent, child node)}``."""
        pair_index, pairs = self.graph.node_pair_index
        kept = torch.unique(pair_index[self.edge_in_graph])
        return {pairs[i] for i in kept.tolist()}

    def node_pair_scores(self, reduce: str = "sum") -> dict[tuple[str, str], float]:
        """Scores with q/k/v collapsed: ``reduce`` in {"sum", "abs_sum", "max_abs"}."""
        pair_index, pairs = self.graph.node_pair_index
        scores = torch.nan_to_num(self.edge_scores)
        if reduce == "sum":
            out = torch.zeros(len(pairs), dtype=torch.float64).index_add_(0, pair_index, scores)
        elif reduce == "abs_sum":
            out = torch.zeros(len(pairs), dtype=torch.float64).index_add_(0, pair_index, scores.abs())
        elif reduce == "max_abs":
            out = torch.zeros(len(pairs), dtype=torch.float64).scatter_reduce_(0, pair_index, scores.abs(), "amax")
        else:
            raise ValueError(f"unknown reduce {reduce!r}")
        return {pair: float(v) for pair, v in zip(pairs, out.tolist())}

    def node_scores_from_edges(self, absolute: bool = True) -> Tensor:
        """``[n_nodes]``: sum of (absolute) scores of each node's outgoing edges."""
        scores = torch.nan_to_num(self.edge_scores)
        scores = scores.abs() if absolute else scores
        return torch.zeros(self.graph.n_nodes, dtype=torch.float64).index_add_(0, self.graph.edge_parent, scores)

    # ------------------------------------------------------------------ masks for the engine
    def to_edge_mask(self, dtype: torch.dtype = torch.float32, device: Union[str, torch.device, None] = None) -> Tensor:
        """``[n_edges]`` float mask: 1 for kept edges, 0 for patched ones."""
        return self.edge_in_graph.to(device=device, dtype=dtype)

    def to_node_mask(self, dtype: torch.dtype = torch.float32, device: Union[str, torch.device, None] = None) -> Tensor:
        """``[n_nodes]`` float mask of nodes in the graph."""
        return self.node_in_graph.to(device=device, dtype=dtype)

    def to_neuron_mask(self, dtype: torch.dtype = torch.float32,
                       device: Union[str, torch.device, None] = None) -> Optional[Tensor]:
        """``[n_upstream, d_model]`` float neuron mask, or None without neuron information."""
        if self.neuron_in_graph is None:
            return None
        return self.neuron_in_graph.to(device=device, dtype=dtype)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Circuit) or other.graph.cfg != self.graph.cfg:
            return False

        def same(a: Optional[Tensor], b: Optional[Tensor]) -> bool:
            if a is None or b is None:
                return a is None and b is None
            return a.shape == b.shape and bool(torch.equal(torch.nan_to_num(a, nan=1.2345e300) if a.is_floating_point() else a,
                                                           torch.nan_to_num(b, nan=1.2345e300) if b.is_floating_point() else b))
        return all(same(getattr(self, f), getattr(other, f)) for f in
                   ("edge_scores", "edge_in_graph", "node_in_graph", "node_scores", "neuron_in_graph", "neuron_scores"))

    def __repr__(self) -> str:
        return f"Circuit({self.n_edges}/{self.graph.n_edges} edges, {self.n_nodes}/{self.graph.n_nodes} nodes)"
