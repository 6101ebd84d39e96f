"""AUROC against a ground truth: perfect / inverted / random scores, q/k/v collapse, degenerate truths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from circuits_benchmark.evaluation.auroc import (
    DegenerateTruthError,
    auroc_report,
    mib_area,
    mib_auroc,
    rank_auroc,
    rank_auroc_from_labels,
)
from circuits_benchmark.graph import Circuit, ComputationalGraph

GPT2 = dict(n_layers=12, n_heads=12, d_model=768)


@pytest.fixture(scope="module")
def gpt2_graph() -> ComputationalGraph:
    return ComputationalGraph.from_model(GPT2)


@pytest.fixture(scope="module")
def scattered_truth(gpt2_graph) -> Circuit:
    """400 random edges among 20 random heads/MLPs (plus input and logits): a sparse truth."""
    gen = torch.Generator().manual_seed(0)
    inner = [n.index for n in gpt2_graph.nodes if n.name not in ("input", "logits")]
    chosen = set(torch.tensor(inner)[torch.randperm(len(inner), generator=gen)[:20]].tolist())
    chosen |= {gpt2_graph.node_index("input"), gpt2_graph.node_index("logits")}
    candidates = [e.index for e in gpt2_graph.edges if e.parent.index in chosen and e.child.index in chosen]
    picked = torch.tensor(candidates)[torch.randperm(len(candidates), generator=gen)[:400]]
    return Circuit.from_edges(gpt2_graph, picked.tolist())


@pytest.fixture(scope="module")
def path_truth(gpt2_graph) -> Circuit:
    """A connected truth: input -> a0.h3 -> m2 -> a5.h7 -> m9 -> logits (with q/k/v inputs)."""
    edges = ["input->a0.h3<q>", "input->a0.h3<k>", "input->a0.h3<v>", "a0.h3->m2", "m2->a5.h7<v>",
             "input->a5.h7<q>", "a5.h7->m9", "m2->m9", "m9->logits", "a5.h7->logits"]
    return Circuit.from_edges(gpt2_graph, edges)


def indicator_scores(truth: Circuit) -> torch.Tensor:
    return truth.edge_in_graph.double()


@pytest.mark.parametrize("level", ["edge", "head", "node"])
def test_true_scores_give_auroc_one(gpt2_graph, scattered_truth, level):
    scored = Circuit.from_scores(gpt2_graph, indicator_scores(scattered_truth))
    assert rank_auroc(scored, scattered_truth, level).auroc == pytest.approx(1.0)


def test_inverted_scores_give_auroc_zero(gpt2_graph, scattered_truth):
    scored = Circuit.from_scores(gpt2_graph, 1.0 - indicator_scores(scattered_truth))
    assert rank_auroc(scored, scattered_truth, "edge").auroc == pytest.approx(0.0)


@pytest.mark.parametrize("level", ["edge", "head"])
def test_random_scores_give_about_one_half(gpt2_graph, scattered_truth, level):
    gen = torch.Generator().manual_seed(1)
    scored = Circuit.from_scores(gpt2_graph, torch.randn(gpt2_graph.n_edges, generator=gen, dtype=torch.float64))
    assert abs(rank_auroc(scored, scattered_truth, level).auroc - 0.5) < 0.1


def test_scores_are_compared_by_magnitude(gpt2_graph, scattered_truth):
    """Raw |scores|: a strongly negative score on a true edge counts as important."""
    signed = indicator_scores(scattered_truth) * torch.where(torch.arange(gpt2_graph.n_edges) % 2 == 0, 1.0, -1.0).double()
    scored = Circuit.from_scores(gpt2_graph, signed)
    assert rank_auroc(scored, scattered_truth, "edge").auroc == pytest.approx(1.0)


def test_rank_auroc_matches_pairwise_count():
    """sklearn's AUROC equals the Mann-Whitney pair count (ties half) computed by brute force."""
    rng = np.random.default_rng(3)
    labels = rng.random(60) < 0.3
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    pos, neg = scores[labels], scores[~labels]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert rank_auroc_from_labels(labels, scores).auroc == pytest.approx(wins / (len(pos) * len(neg)))


def test_all_ties_and_nan_scores():
    graph = ComputationalGraph.from_model(dict(n_layers=2, n_heads=2, d_model=8))
    truth = Circuit.from_edges(graph, ["input->a0.h0<q>", "a0.h0->m0", "m0->logits"])
    flat = Circuit.from_scores(graph, torch.ones(graph.n_edges, dtype=torch.float64))
    assert rank_auroc(flat, truth).auroc == pytest.approx(0.5)
    nan_outside = torch.where(truth.edge_in_graph, 0.01, float("nan")).double()
    assert rank_auroc(Circuit.from_scores(graph, nan_outside), truth).auroc == pytest.approx(1.0)


def test_qkv_promotion_to_heads():
    """Truth on a head's q input, score on its k input: wrong per edge, right per head."""
    graph = ComputationalGraph.from_model(dict(n_layers=2, n_heads=2, d_model=8))
    truth = Circuit.from_edges(graph, ["input->a1.h0<q>", "a1.h0->logits"])
    scores = torch.zeros(graph.n_edges, dtype=torch.float64)
    scores[graph.edge_index("input->a1.h0<k>")] = 2.0
    scores[graph.edge_index("a1.h0->logits")] = 1.0
    scored = Circuit.from_scores(graph, scores)
    assert rank_auroc(scored, truth, "head").auroc == pytest.approx(1.0)
    assert rank_auroc(scored, truth, "edge").auroc < 1.0
    head = rank_auroc(scored, truth, "head")
    n_pairs = len(graph.node_pair_index[1])
    assert head.n_positive + head.n_negative == n_pairs < graph.n_edges


def test_node_level_excludes_input_and_logits_and_uses_node_scores():
    graph = ComputationalGraph.from_model(dict(n_layers=2, n_heads=2, d_model=8))
    truth = Circuit.from_edges(graph, ["input->a0.h1<v>", "a0.h1->logits"])
    inner = [n.name for n in graph.nodes if n.name not in ("input", "logits")]
    node_scores = torch.zeros(graph.n_nodes, dtype=torch.float64)
    node_scores[graph.node_index("a0.h1")] = 5.0
    # edge scores point elsewhere, node scores at the truth: node level must use the node scores
    edge_scores = torch.zeros(graph.n_edges, dtype=torch.float64)
    edge_scores[graph.edge_index("m1->logits")] = 9.0
    scored = Circuit.from_scores(graph, edge_scores, node_scores=node_scores)
    result = rank_auroc(scored, truth, "node")
    assert result.n_positive + result.n_negative == len(inner)
    assert result.auroc == pytest.approx(1.0)
    assert rank_auroc(Circuit.from_scores(graph, edge_scores), truth, "node").auroc < 0.5


@pytest.mark.parametrize("level", ["edge", "head", "node"])
def test_degenerate_truth_raises(gpt2_graph, level):
    scored = Circuit.from_scores(gpt2_graph, torch.rand(gpt2_graph.n_edges, dtype=torch.float64))
    with pytest.raises(DegenerateTruthError, match="no"):
        rank_auroc(scored, Circuit.empty(gpt2_graph), level)
    with pytest.raises(DegenerateTruthError, match="all"):
        rank_auroc(scored, Circuit.full(gpt2_graph), level)
    if level != "node":
        with pytest.raises(DegenerateTruthError):
            mib_auroc(scored, Circuit.empty(gpt2_graph), level)


def test_mib_auroc_perfect_and_inverted(gpt2_graph, path_truth):
    perfect = mib_auroc(Circuit.from_scores(gpt2_graph, indicator_scores(path_truth)), path_truth)
    inverted = mib_auroc(Circuit.from_scores(gpt2_graph, 1.0 - indicator_scores(path_truth)), path_truth)
    assert perfect.variant == "mib" and len(perfect.fpr) == 10
    assert perfect.n_edges[0] == 33  # ceil(0.001 * 32491), MIB's float budget loop
    assert perfect.tpr[0] == 1.0 and perfect.fpr[0] < 0.002
    assert perfect.auroc > 0.99
    assert inverted.auroc < 0.5 < perfect.auroc
    # and the anchored (monotone) variant agrees on the perfect scorer
    assert mib_auroc(Circuit.from_scores(gpt2_graph, indicator_scores(path_truth)), path_truth,
                     anchored=True).auroc > 0.99


def test_mib_area_is_the_unanchored_trapezoid():
    fpr, tpr = [0.1, 0.5, 1.0], [0.5, 0.75, 1.0]
    expected = (0.4 * (0.5 + 0.75) / 2) + (0.5 * (0.75 + 1.0) / 2)
    assert mib_area(fpr, tpr) == pytest.approx(expected)
    assert mib_area([0.1, 0.25], [0.5, 1.0]) == pytest.approx((0.25 - 0.1) / 0.25 * (0.5 + 1.0) / 2)  # x / last x


def test_report_on_tracr_truth(case3):
    compiled, task = case3
    graph = task.graph()
    truth = compiled.true_circuit(graph, "patching")
    report = auroc_report(Circuit.from_scores(graph, indicator_scores(truth)), truth)
    assert report["auroc"] == report["auroc_rank_edge"] == pytest.approx(1.0)
    assert report["auroc_mib_edge"] == pytest.approx(1.0)
    inverted = auroc_report(Circuit.from_scores(graph, 1.0 - indicator_scores(truth)), truth)
    assert inverted["auroc_rank_edge"] == pytest.approx(0.0)


def test_head_level_report_scores_against_the_node_induced_truth_too(case3):
    compiled, task = case3
    graph = task.graph()
    truth = compiled.true_circuit(graph, "patching")
    induced = truth.node_induced()
    assert induced.n_edges > truth.n_edges
    # a method that finds every path among the circuit's nodes: perfect against the induced truth only
    report = auroc_report(Circuit.from_scores(graph, indicator_scores(induced)), truth, head_level_truth=True)
    assert report["auroc_induced_head"] == pytest.approx(1.0)
    assert report["auroc"] < 1.0
    assert "auroc_induced_head" not in auroc_report(Circuit.from_scores(graph, indicator_scores(truth)), truth)
