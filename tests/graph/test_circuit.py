"""Circuit selection, pruning and node promotion."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from circuits_benchmark.graph import Circuit, ComputationalGraph, GraphConfig, prune_edges


@pytest.fixture(scope="module")
def graph():
    return ComputationalGraph.from_model(GraphConfig(n_layers=3, n_heads=2, d_model=8))


def brute_force_prune(graph: ComputationalGraph, kept: torch.Tensor) -> torch.Tensor:
    g = nx.DiGraph()
    g.add_nodes_from(n.name for n in graph.nodes)
    g.add_edges_from((e.parent.name, e.child.name) for e in graph.edges if kept[e.index])
    from_input = nx.descendants(g, "input") | {"input"}
    to_logits = nx.ancestors(g, "logits") | {"logits"}
    return torch.tensor([bool(kept[e.index]) and e.parent.name in from_input and e.child.name in to_logits
                         for e in graph.edges])


def test_prune_matches_brute_force(graph):
    gen = torch.Generator().manual_seed(0)
    for p in (0.05, 0.2, 0.5, 0.9):
        kept = torch.rand(graph.n_edges, generator=gen) < p
        assert torch.equal(prune_edges(graph, kept), brute_force_prune(graph, kept))


def test_prune_a_batch_of_masks_prunes_each(graph):
    gen = torch.Generator().manual_seed(1)
    kept = torch.rand((6, graph.n_edges), generator=gen) < torch.tensor([0.05, 0.2, 0.4, 0.6, 0.9, 1.0])[:, None]
    pruned = prune_edges(graph, kept)
    assert pruned.shape == kept.shape
    for mask, row in zip(kept, pruned):
        assert torch.equal(row, brute_force_prune(graph, mask))


def test_top_n_prunes_dangling_and_promotes_nodes(graph):
    scores = torch.zeros(graph.n_edges, dtype=torch.float64)
    chain = ["input->a0.h1<k>", "a0.h1->m1", "m1->logits"]
    for i, name in enumerate(chain):
        scores[graph.edge_index(name)] = 10.0 - i
    scores[graph.edge_index("a1.h0->m2")] = 9.5  # dangling: a1.h0 has no input, m2 no output
    circuit = Circuit.from_scores(graph, scores).top_n(4)
    assert circuit.edge_names() == sorted(chain, key=graph.edge_index)
    assert set(circuit.node_names()) == {"input", "a0.h1", "m1", "logits"}
    assert circuit.node_pairs() == {("input", "a0.h1"), ("a0.h1", "m1"), ("m1", "logits")}
    unpruned = Circuit.from_scores(graph, scores).top_n(4, prune=False)
    assert "a1.h0->m2" in unpruned.edge_names() and unpruned.n_edges == 4


def test_ties_broken_by_edge_order(graph):
    scores = torch.ones(graph.n_edges, dtype=torch.float64)
    circuit = Circuit.from_scores(graph, scores).top_n(10, prune=False)
    assert torch.equal(torch.nonzero(circuit.edge_in_graph).flatten(), torch.arange(10))


def test_signed_vs_absolute_and_threshold(graph):
    scores = torch.zeros(graph.n_edges, dtype=torch.float64)
    neg, pos = graph.edge_index("input->logits"), graph.edge_index("m2->logits")
    scores[neg], scores[pos] = -5.0, 1.0
    base = Circuit.from_scores(graph, scores)
    assert base.top_n(1, absolute=True, prune=False).edge_names() == ["input->logits"]
    assert base.top_n(1, absolute=False, prune=False).edge_names() == ["m2->logits"]
    assert base.threshold(0.5, absolute=True).edge_names() == ["input->logits"]  # m2 unreachable -> pruned
    assert base.threshold(0.5, absolute=True, prune=False).n_edges == 2
    assert base.threshold(0.5, absolute=False, prune=False).edge_names() == ["m2->logits"]


def test_top_percent_uses_mib_rounding(graph):
    scores = torch.randn(graph.n_edges, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    base = Circuit.from_scores(graph, scores)
    for pct in (0.1, 1, 10, 50, 100):
        assert base.top_percent(pct, prune=False).n_edges == int(pct / 100 * graph.n_edges)
    assert base.top_percent(100).n_edges == graph.n_edges  # the full graph is connected
    assert Circuit.full(graph).prune().n_edges == graph.n_edges
    assert Circuit.empty(graph).n_edges == 0


def test_greedy_grows_from_logits(graph):
    scores = torch.rand(graph.n_edges, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    circuit = Circuit.from_scores(graph, scores).greedy(15, prune=False)
    assert circuit.n_edges == 15
    # every edge's child is logits or the parent of an earlier-chosen edge
    kept = [graph.edges[i] for i in torch.nonzero(circuit.edge_in_graph).flatten().tolist()]
    parents = {e.parent.name for e in kept}
    assert all(e.child.name == "logits" or e.child.name in parents for e in kept)
    assert circuit.greedy(15).n_edges <= 15


def test_masks_and_equality(graph):
    scores = torch.randn(graph.n_edges, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    circuit = Circuit.from_scores(graph, scores).top_n(20)
    mask = circuit.to_edge_mask(torch.float64)
    assert mask.dtype == torch.float64 and int(mask.sum()) == circuit.n_edges
    assert circuit.to_node_mask().shape == (graph.n_nodes,)
    assert circuit == circuit.copy()
    assert circuit != Circuit.from_scores(graph, scores)
    pair_scores = circuit.node_pair_scores("sum")
    q, k, v = (scores[graph.edge_index(f"input->a1.h0<{x}>")].item() for x in "qkv")
    assert pair_scores[("input", "a1.h0")] == pytest.approx(q + k + v)
    assert circuit.node_scores_from_edges().shape == (graph.n_nodes,)


def test_node_induced_keeps_every_edge_among_the_nodes(graph):
    circuit = Circuit.from_edges(graph, ["input->a0.h1<v>", "a0.h1->m1", "m1->logits"])
    induced = circuit.node_induced()
    nodes = {"input", "a0.h1", "m1", "logits"}
    expected = {e.name for e in graph.edges if e.parent.name in nodes and e.child.name in nodes}
    assert set(induced.edge_names()) == expected
    assert {"input->a0.h1<q>", "input->m1", "a0.h1->logits", "input->logits"} <= expected  # paths the HL graph lacks
    assert torch.equal(induced.node_in_graph, circuit.node_in_graph)
