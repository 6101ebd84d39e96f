"""Circuit drawings are produced without graphviz."""

from __future__ import annotations

import pytest
import torch

from circuits_benchmark.graph import Circuit, ComputationalGraph, GraphConfig, draw_circuit


@pytest.mark.parametrize("suffix", [".png", ".svg"])
@pytest.mark.parametrize("parallel", [False, True])
def test_draw_circuit_writes_file(tmp_path, suffix, parallel):
    graph = ComputationalGraph.from_model(GraphConfig(n_layers=2, n_heads=3, d_model=8, parallel_attn_mlp=parallel))
    scores = torch.randn(graph.n_edges, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    circuit = Circuit.from_scores(graph, scores).top_n(25)
    out = draw_circuit(circuit, tmp_path / f"circuit{suffix}", title="test")
    assert out.exists() and out.stat().st_size > 1000


def test_draw_empty_circuit(tmp_path):
    graph = ComputationalGraph.from_model(GraphConfig(n_layers=1, n_heads=2, d_model=8, has_mlp=False))
    assert draw_circuit(Circuit.empty(graph), tmp_path / "empty.png", show_all_nodes=False).exists()
