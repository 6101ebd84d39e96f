"""Slow, obviously-correct reference patching with plain TransformerLens hooks.

Used to test the vectorised engine in ``patching.py``. Everything here loops over edges in
Python and runs one forward per call; never use it for real workloads.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, Union

import torch

from .graph import ComputationalGraph, NodeKind, check_model_prepared

Tensor = torch.Tensor


def _node_slice(node_name: str, graph: ComputationalGraph, act: Tensor) -> Tensor:
    node = graph.node(node_name)
    return act[:, :, node.head] if node.kind is NodeKind.ATTENTION else act


def naive_node_outputs(model: Any, graph: ComputationalGraph, tokens: Tensor,
                       attention_mask: Optional[Tensor] = None) -> dict[str, Tensor]:
    """``{node name: [batch, pos, d_model]}`` read from ``run_with_cache`` (no custom hooks)."""
    check_model_prepared(model)
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, **kwargs)
    return {n.name: _node_slice(n.name, graph, cache[n.output_hook]).clone() for n in graph.upstream_nodes}


def source_dict(graph: ComputationalGraph, source: Union[Tensor, Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """Accept ``{name: tensor}`` or a ``[..., n_upstream, d_model]`` tensor; return the dict form."""
    if isinstance(source, Mapping):
        return dict(source)
    return {n.name: source[..., n.upstream_index, :] for n in graph.upstream_nodes}


def naive_edge_patched_forward(model: Any, graph: ComputationalGraph, clean_tokens: Tensor,
                               removed_edges: Iterable[Union[str, int]],
                               source: Union[Tensor, Mapping[str, Tensor]],
                               attention_mask: Optional[Tensor] = None) -> Tensor:
    """Logits with the given edges patched, one edge at a time inside a single forward.

    For every removed edge ``u->v``: at ``v``'s input hook add ``source_u - actual_u``, where
    ``actual_u`` is ``u``'s output recorded earlier in this same (patched) forward.
    """
    check_model_prepared(model)
    src = source_dict(graph, source)
    edges = [graph.edge(e) for e in removed_edges]
    actual: dict[str, Tensor] = {}
    by_hook: dict[str, list] = {}
    for e in edges:
        down = graph.downstream_inputs[e.downstream_index]
        by_hook.setdefault(down.hook_name, []).append(e)

    def record(hook_name: str) -> Callable:
        def hook(act: Tensor, hook: Any) -> None:
            for node in graph.upstream_nodes:
                if node.output_hook == hook_name:
                    actual[node.name] = _node_slice(node.name, graph, act).clone()
        return hook

    def patch(hook_name: str) -> Callable:
        def hook(act: Tensor, hook: Any) -> Tensor:
            act = act.clone()
            for e in by_hook[hook_name]:
                delta = src[e.parent.name] - actual[e.parent.name]
                if e.child.kind is NodeKind.ATTENTION:
                    act[:, :, e.child.head] = act[:, :, e.child.head] + delta
                else:
                    act = act + delta
            return act
        return hook

    output_hooks = sorted({n.output_hook for n in graph.upstream_nodes})
    fwd_hooks = [(h, record(h)) for h in output_hooks] + [(h, patch(h)) for h in by_hook]
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
    return model.run_with_hooks(clean_tokens, fwd_hooks=fwd_hooks, **kwargs)


def naive_node_patched_forward(model: Any, graph: ComputationalGraph, clean_tokens: Tensor,
                               removed_nodes: Iterable[str], source: Union[Tensor, Mapping[str, Tensor]],
                               attention_mask: Optional[Tensor] = None) -> Tensor:
    """Logits with the outputs of the given nodes overwritten by their source values."""
    check_model_prepared(model)
    src = source_dict(graph, source)
    nodes = [graph.node(n) for n in removed_nodes]

    def overwrite(node_list: list) -> Callable:
        def hook(act: Tensor, hook: Any) -> Tensor:
            act = act.clone()
            for node in node_list:
                value = src[node.name].expand(act.shape[0], act.shape[1], -1)
                if node.kind is NodeKind.ATTENTION:
                    act[:, :, node.head] = value
                else:
                    act = value.clone()
            return act
        return hook

    by_hook: dict[str, list] = {}
    for node in nodes:
        by_hook.setdefault(node.output_hook, []).append(node)
    fwd_hooks = [(h, overwrite(ns)) for h, ns in by_hook.items()]
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
    return model.run_with_hooks(clean_tokens, fwd_hooks=fwd_hooks, **kwargs)


def naive_single_edge_effects(model: Any, graph: ComputationalGraph, clean_tokens: Tensor,
                              source: Union[Tensor, Mapping[str, Tensor]],
                              metric: Callable[[Tensor], Tensor],
                              edges: Optional[Iterable[Union[str, int]]] = None,
                              attention_mask: Optional[Tensor] = None) -> Tensor:
    """``metric(logits)`` with each edge removed on its own: one forward per edge."""
    edge_list = list(range(graph.n_edges)) if edges is None else list(edges)
    out = []
    with torch.no_grad():
        for e in edge_list:
            out.append(metric(naive_edge_patched_forward(model, graph, clean_tokens, [e], source, attention_mask)))
    return torch.stack(out)
