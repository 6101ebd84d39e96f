"""The node pass (whole node outputs blended toward a source) against the edge engine and naive hooks."""

from __future__ import annotations

import pytest
import torch

from circuits_benchmark.graph import PatchSource, nodes_removed_mask, patched_forward, resolve_source
from circuits_benchmark.graph.naive import naive_node_patched_forward
from circuits_benchmark.graph.node_patching import node_layer_chunks, node_start_layer, patched_forward_nodes
from circuits_benchmark.graph.patching import CleanRun

TOL = 1e-9  # float64 models


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def _random_node_masks(graph, n: int, seed: int) -> torch.Tensor:
    masks = torch.rand(n, graph.n_nodes, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    masks[0] = (masks[0] > 0.5).to(masks)  # one hard 0/1 circuit among the soft ones
    return masks


@pytest.mark.parametrize("kind", ["corrupted", "mean", "zero"])
def test_node_pass_equals_edge_engine_with_node_masks(model_and_graph, tokens, kind):
    model, graph = model_and_graph
    clean, corrupted = tokens
    source = {"corrupted": PatchSource.corrupted(corrupted), "mean": PatchSource.mean(torch.cat([clean, corrupted])),
              "zero": PatchSource.zero()}[kind]
    acts = resolve_source(model, graph, source, tuple(clean.shape), progress=False)
    masks = _random_node_masks(graph, 5, seed=3)
    with torch.no_grad():
        nodes = patched_forward_nodes(model, graph, clean, masks, acts)
        edges = patched_forward(model, graph, clean, graph.node_mask_to_edge_mask(masks), acts)
        single = patched_forward_nodes(model, graph, clean, masks[1], acts)
    assert nodes.shape == edges.shape
    assert _max_diff(nodes, edges) < TOL
    assert _max_diff(single, edges[1]) < TOL


def test_node_pass_removing_nodes_matches_naive_output_overwrite(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    with torch.no_grad():
        for node in graph.upstream_nodes:
            mask = torch.ones(graph.n_nodes, dtype=torch.float64)
            mask[node.index] = 0.0
            naive = naive_node_patched_forward(model, graph, clean, [node.name], acts)
            assert _max_diff(patched_forward_nodes(model, graph, clean, mask, acts), naive) < TOL, node.name
        full = patched_forward_nodes(model, graph, clean, torch.ones(graph.n_nodes, dtype=torch.float64), acts)
        assert _max_diff(full, model(clean)) < TOL


def test_node_pass_gradients_equal_the_edge_engines(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    values = resolve_source(model, graph, PatchSource.corrupted(corrupted)).mean((0, 1))
    grads = []
    for forward in ("nodes", "edges"):
        mask = _random_node_masks(graph, 3, seed=7).requires_grad_(True)
        learned = values.clone().requires_grad_(True)
        if forward == "nodes":
            logits = patched_forward_nodes(model, graph, clean, mask, PatchSource.learned(learned))
        else:
            logits = patched_forward(model, graph, clean, graph.node_mask_to_edge_mask(mask),
                                     PatchSource.learned(learned))
        logits[..., -1, :].pow(2).sum().backward()
        grads.append((mask.grad, learned.grad))
    (mask_nodes, values_nodes), (mask_edges, values_edges) = grads
    upstream = [n.index for n in graph.upstream_nodes]
    assert mask_nodes[:, upstream].abs().sum() > 0
    torch.testing.assert_close(mask_nodes[:, upstream], mask_edges[:, upstream], rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(values_nodes, values_edges, rtol=1e-8, atol=1e-8)


def test_node_pass_from_the_clean_run_equals_a_full_pass(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    run = CleanRun.of(model, graph, clean)
    masks = torch.ones(graph.n_upstream, graph.n_nodes, dtype=torch.float64)
    masks[torch.arange(graph.n_upstream), [n.index for n in graph.upstream_nodes]] = 0.0
    starts = node_start_layer(graph, masks)
    assert starts.tolist() == [max(n.layer, 0) for n in graph.upstream_nodes]
    chunks = node_layer_chunks(graph, masks, per_batch=2)
    assert sorted(torch.cat(chunks).tolist()) == list(range(graph.n_upstream))
    assert all(len(set(starts[c].tolist())) == 1 and len(c) <= 2 for c in chunks)
    with torch.no_grad():
        for chunk in chunks:
            late = patched_forward_nodes(model, graph, clean, masks[chunk], acts, clean=run)
            full = patched_forward_nodes(model, graph, clean, masks[chunk], acts)
            assert _max_diff(late, full) < TOL
    with pytest.raises(ValueError, match="other tokens"):
        patched_forward_nodes(model, graph, corrupted, masks[:1], acts, clean=run)


def test_node_pass_restores_the_model_and_checks_the_mask(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    flags = (model.cfg.use_split_qkv_input, model.cfg.use_hook_mlp_in, model.cfg.use_attn_result)
    mask = nodes_removed_mask(graph, ["input"])  # an edge mask: wrong length for the node pass
    with pytest.raises(ValueError, match="node mask has"):
        patched_forward_nodes(model, graph, clean, mask, PatchSource.corrupted(corrupted))
    patched_forward_nodes(model, graph, clean, torch.zeros(graph.n_nodes), PatchSource.corrupted(corrupted))
    assert (model.cfg.use_split_qkv_input, model.cfg.use_hook_mlp_in, model.cfg.use_attn_result) == flags
    assert not any(point._forward_hooks for point in model.hook_dict.values())
