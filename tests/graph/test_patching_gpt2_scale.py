"""The engine on a randomly initialised GPT-2-small-sized model (slow: ~124M parameters on CPU)."""

from __future__ import annotations

import pytest
import torch

from circuits_benchmark.graph import ComputationalGraph, PatchSource, patched_forward, prepare_model, resolve_source
from circuits_benchmark.graph.naive import naive_edge_patched_forward


@pytest.mark.slow
def test_gpt2_sized_engine_matches_naive():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=12, n_heads=12, d_model=768, d_head=64, d_mlp=3072, n_ctx=16,
                                  d_vocab=1000, act_fn="gelu_new", normalization_type="LN", seed=0,
                                  dtype=torch.float64)
    model = prepare_model(HookedTransformer(cfg)).eval()
    graph = ComputationalGraph.from_model(model)
    assert graph.n_edges == 32491
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 1000, (2, 6), generator=gen)
    corrupted = torch.randint(0, 1000, (2, 6), generator=gen)
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    masks = (torch.rand(2, graph.n_edges, generator=gen) > 0.5).double()
    with torch.no_grad():
        engine = patched_forward(model, graph, clean, masks, acts)
        assert (patched_forward(model, graph, clean, graph.full_edge_mask(0.0), acts) - model(corrupted)).abs().max() < 1e-6
        removed = torch.nonzero(masks[0] == 0).flatten().tolist()
        naive = naive_edge_patched_forward(model, graph, clean, removed, acts)
        assert (engine[0] - naive).abs().max() < 1e-6
