"""Structure of the computational graph."""

from __future__ import annotations

import pytest
import torch
from transformer_lens import HookedTransformerConfig

from circuits_benchmark.graph import ComputationalGraph, GraphConfig, NodeKind, check_model_prepared

from graph_test_models import make_model


def gpt2_small_cfg() -> HookedTransformerConfig:
    return HookedTransformerConfig(n_layers=12, n_heads=12, d_model=768, d_head=64, d_mlp=3072, n_ctx=1024,
                                   d_vocab=50257, act_fn="gelu_new", normalization_type="LN")


def test_gpt2_small_sizes_and_names():
    graph = ComputationalGraph.from_model(gpt2_small_cfg())
    assert graph.n_nodes == 158
    assert graph.n_edges == 32491
    assert graph.n_upstream == 157
    assert graph.n_downstream == 12 * (3 * 12 + 1) + 1
    for name in ("input->a0.h1<q>", "a3.h2->m5", "m11->logits", "a0.h1->m0", "m3->a4.h0<v>", "input->logits"):
        assert graph.edge_name(graph.edge_index(name)) == name
    for bad in ("m5->a3.h2<q>", "a3.h2->a3.h1<q>", "a0.h0->m0<q>", "logits->m0"):
        with pytest.raises(KeyError):
            graph.edge_index(bad)
    assert ComputationalGraph.from_model({"n_layers": 12, "n_heads": 12, "d_model": 768,
                                          "parallel_attn_mlp": False}).n_edges == 32491


def test_gpt2_node_hooks():
    graph = ComputationalGraph.from_model(gpt2_small_cfg())
    head = graph.node("a3.h7")
    assert head.kind is NodeKind.ATTENTION and head.head == 7 and head.layer == 3
    assert head.output_hook == "blocks.3.attn.hook_result"
    assert head.input_hooks == ("blocks.3.hook_q_input", "blocks.3.hook_k_input", "blocks.3.hook_v_input")
    assert graph.node("m2").input_hooks == ("blocks.2.hook_mlp_in",)
    assert graph.node("m2").output_hook == "blocks.2.hook_mlp_out"
    assert graph.node("input").output_hook == "blocks.0.hook_resid_pre"
    assert graph.node("logits").input_hooks == ("blocks.11.hook_resid_post",)
    assert graph.downstream_by_name["a3.h7<k>"].hook_name == "blocks.3.hook_k_input"


def expected_edges(n_layers: int, n_heads: int, has_mlp: bool, parallel: bool) -> int:
    per_layer = n_heads + int(has_mlp)
    total = 0
    for layer in range(n_layers):
        before = 1 + layer * per_layer
        total += 3 * n_heads * before
        if has_mlp:
            total += before + (0 if parallel else n_heads)
    return total + 1 + n_layers * per_layer


@pytest.mark.parametrize("n_layers,n_heads,has_mlp,parallel", [
    (2, 3, True, False), (3, 2, True, True), (2, 4, False, False), (1, 1, True, False)])
def test_edge_counts_and_topology(n_layers, n_heads, has_mlp, parallel):
    cfg = GraphConfig(n_layers=n_layers, n_heads=n_heads, d_model=8, parallel_attn_mlp=parallel, has_mlp=has_mlp)
    graph = ComputationalGraph.from_model(cfg)
    assert graph.n_edges == expected_edges(n_layers, n_heads, has_mlp, parallel)
    assert graph.n_nodes == 2 + n_layers * (n_heads + int(has_mlp))
    assert all(e.parent.index < e.child.index for e in graph.edges)  # topological
    assert all(graph.edge(e.name) is e and graph.edges[e.index] is e for e in graph.edges)
    assert [e.name for e in graph.edges] == [e.name for e in ComputationalGraph.from_model(cfg).edges]
    dense = graph.dense_edge_index
    assert torch.equal(dense[graph.edge_upstream, graph.edge_downstream], torch.arange(graph.n_edges))
    assert int((dense >= 0).sum()) == graph.n_edges
    for d in graph.downstream_inputs:  # every downstream input is fed exactly by upstream rows [0, n_parents)
        assert torch.equal(torch.nonzero(dense[:, d.index] >= 0).flatten(), torch.arange(d.n_parents))
    if parallel:
        assert "a0.h0->m0" not in graph.edge_by_name
    if not has_mlp:
        assert not any(n.kind is NodeKind.MLP for n in graph.nodes)


def test_node_and_edge_lookups():
    graph = ComputationalGraph.from_model(GraphConfig(n_layers=2, n_heads=2, d_model=8))
    names = ["input->a0.h0<q>", "a0.h1->m0", "m1->logits"]
    idx = graph.edge_indices(names)
    assert graph.edge_names(idx) == names
    mask = graph.edge_mask_from_names(names)
    assert mask.sum() == 3 and mask[idx].eq(1).all()
    out = graph.edges_out_of("a0.h1")
    assert all(graph.edges[i].parent.name == "a0.h1" for i in out.tolist())
    into = graph.edges_into("a1.h0")
    assert len(into) == 3 * (1 + 3)
    node_mask = graph.node_mask_from_names(["input", "a0.h0", "m0", "a1.h0", "a1.h1", "m1", "logits"])
    edge_mask = graph.node_mask_to_edge_mask(node_mask)
    assert set(graph.edge_names(torch.nonzero(edge_mask == 0).flatten())) == {
        e.name for e in graph.edges if e.parent.name == "a0.h1"}


def test_residual_is_sum_of_node_outputs_plus_biases():
    """The decomposition the engine relies on: downstream input = sum of upstream outputs + b_O's."""
    model = make_model("gelu_ln_mlp")
    graph = ComputationalGraph.from_model(model)
    tokens = torch.randint(0, 13, (2, 5))
    _, cache = model.run_with_cache(tokens)
    total = cache["blocks.0.hook_resid_pre"].clone()
    for layer in range(model.cfg.n_layers):
        total += cache[f"blocks.{layer}.attn.hook_result"].sum(2) + model.blocks[layer].attn.b_O
        total += cache[f"blocks.{layer}.hook_mlp_out"]
    assert (total - cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"]).abs().max() < 1e-10


def test_prepare_model_flags():
    model = make_model("attn_only_ln")
    check_model_prepared(model)
    model.cfg.use_split_qkv_input = False
    with pytest.raises(ValueError, match="prepare_model"):
        check_model_prepared(model)
