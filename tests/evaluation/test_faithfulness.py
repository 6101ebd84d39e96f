"""MIB faithfulness: normalisation on a Tracr case, CPR / CMD areas, batching, rounding."""

from __future__ import annotations

import pytest
import torch

from circuits_benchmark.evaluation.faithfulness import (
    FRACTIONS,
    FaithfulnessUndefinedError,
    circuit_faithfulness,
    cmd,
    cpr,
    curve_circuits,
    faithfulness_curves,
    item_count,
    normalise,
    top_nodes_circuit,
    weighted_edge_count,
)
from circuits_benchmark.graph import Circuit, ComputationalGraph, patched_forward

HAND_F = [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.0]


def test_cpr_and_cmd_of_a_hand_made_curve():
    # trapezoids over x = 0.001 .. 1, by hand:
    #   CPR: 0.03*0.25 + 0.05*0.5 + 0.1*0.75 + 0.3*1 + 0.5*1 = 0.9075
    #   CMD: 0.001+0.003+0.005+0.01 (f=0) + 0.03*0.75 + 0.05*0.5 + 0.1*0.25 = 0.0915
    assert cpr(FRACTIONS, HAND_F) == pytest.approx(0.9075)
    assert cmd(FRACTIONS, HAND_F) == pytest.approx(0.0915)
    # overshooting f counts against CMD: f = 2 on the last point adds 0.5 * (0 + 1) / 2
    assert cmd(FRACTIONS, HAND_F[:-1] + [2.0]) == pytest.approx(0.0915 + 0.25)
    # constant f = 1 -> CPR = width 0.999, CMD = 0
    assert cpr(FRACTIONS, [1.0] * 10) == pytest.approx(0.999)
    assert cmd(FRACTIONS, [1.0] * 10) == pytest.approx(0.0)


def test_item_counts_and_rounding():
    assert [item_count(p, 23) for p in FRACTIONS] == [0, 0, 0, 0, 0, 1, 2, 4, 11, 23]
    assert [item_count(p, 23, "ceil") for p in FRACTIONS] == [1, 1, 1, 1, 1, 2, 3, 5, 12, 23]
    assert [item_count(p, 23, "round") for p in FRACTIONS] == [0, 0, 0, 0, 0, 1, 2, 5, 12, 23]
    assert item_count(0.01, 32491) == 324
    with pytest.raises(ValueError):
        item_count(0.5, 10, "nearest")


def test_zero_denominator_is_an_error():
    with pytest.raises(FaithfulnessUndefinedError):
        normalise(torch.tensor([0.3]), 0.5, 0.5)
    assert normalise(torch.tensor([0.0, 1.0, 0.5]), 0.0, 1.0).tolist() == [1.0, 0.0, 0.5]  # divergence form


def test_full_model_is_one_and_empty_circuit_zero(case3):
    compiled, task = case3
    graph = task.graph()
    f, m_full, m_empty = circuit_faithfulness(task, [Circuit.full(graph), Circuit.empty(graph)])
    assert f == pytest.approx([1.0, 0.0], abs=1e-6)
    assert m_full == pytest.approx(0.0, abs=1e-6)  # l2 from the clean model
    assert m_empty > 0


@pytest.mark.parametrize("metric", ["kl", "logit_diff", "prob_diff"])
def test_full_and_empty_on_a_categorical_case(case2, metric):
    compiled, task = case2
    graph = task.graph()
    truth = compiled.true_circuit(graph, "patching")
    f, _, _ = circuit_faithfulness(task, [Circuit.full(graph), Circuit.empty(graph), truth], metric=metric)
    assert f[0] == pytest.approx(1.0, abs=1e-5)
    assert f[1] == pytest.approx(0.0, abs=1e-5)
    assert f[2] == pytest.approx(1.0, abs=1e-4)  # the Tracr truth is exact under resample ablation


def test_curves_match_one_by_one_evaluation(case3):
    """The batched, deduplicated curve equals evaluating each circuit alone with patched_forward."""
    compiled, task = case3
    graph = task.graph()
    gen = torch.Generator().manual_seed(0)
    scored = Circuit.from_scores(graph, torch.randn(graph.n_edges, generator=gen, dtype=torch.float64))
    result = faithfulness_curves(task, scored, ablation="patching", rounding="ceil", progress=False)
    source = task.source("patching")

    def metric_of(mask: torch.Tensor) -> float:
        logits = patched_forward(task.model, graph, task.clean_tokens, mask, source, task.clean_mask)
        return float(task.metric(logits.detach()))

    m_empty = metric_of(torch.zeros(graph.n_edges))
    assert result.m_empty == pytest.approx(m_empty, rel=1e-5)
    for absolute, curve in ((False, result.signed), (True, result.absolute)):
        circuits, counts = curve_circuits(scored, FRACTIONS, absolute=absolute, rounding="ceil")
        assert counts == curve.n_requested == [item_count(p, graph.n_edges, "ceil") for p in FRACTIONS]
        expected = [(metric_of(c.to_edge_mask()) - m_empty) / (result.m_full - m_empty) for c in circuits]
        assert curve.faithfulness == pytest.approx(expected, abs=1e-5)
        assert curve.faithfulness[-1] == pytest.approx(1.0, abs=1e-6)
    assert result.cpr == pytest.approx(cpr(FRACTIONS, result.signed.faithfulness))
    assert result.cmd == pytest.approx(cmd(FRACTIONS, result.absolute.faithfulness))


def test_signed_and_absolute_selection_differ(case3):
    """CPR ranks by signed score, CMD by |score|: a huge negative score is first only for CMD."""
    compiled, task = case3
    graph = task.graph()
    truth = compiled.true_circuit(graph, "patching")
    scores = truth.edge_in_graph.double() * -10.0 + 0.01
    circuits_signed, _ = curve_circuits(Circuit.from_scores(graph, scores), [0.2], absolute=False)
    circuits_abs, _ = curve_circuits(Circuit.from_scores(graph, scores), [0.2], absolute=True)
    assert circuits_abs[0].edge_in_graph[truth.edge_in_graph].all()
    assert not circuits_signed[0].edge_in_graph[truth.edge_in_graph].any()
    result = faithfulness_curves(task, Circuit.from_scores(graph, scores), progress=False)
    assert result.cmd < 0.5 < 1 - result.cpr  # abs-selection finds the circuit, signed does not


def test_weighted_edge_count():
    graph = ComputationalGraph.from_model(dict(n_layers=1, n_heads=1, d_model=4))
    circuit = Circuit.from_edges(graph, ["input->a0.h0<q>", "input->a0.h0<v>", "a0.h0->logits"])
    assert weighted_edge_count(circuit) == 3.0
    neurons = torch.ones(graph.n_upstream, 4, dtype=torch.bool)
    neurons[graph.node("input").upstream_index, :2] = False  # half of input's neurons
    with_neurons = Circuit(graph, edge_in_graph=circuit.edge_in_graph, neuron_in_graph=neurons)
    assert weighted_edge_count(with_neurons) == pytest.approx(0.5 + 0.5 + 1.0)


def test_node_level_curve_keeps_edges_between_kept_nodes(case2):
    compiled, task = case2
    graph = task.graph()
    truth = compiled.true_circuit(graph, "patching")
    scored = Circuit.from_scores(graph, torch.zeros(graph.n_edges, dtype=torch.float64),
                                 node_scores=truth.node_in_graph.double())
    n_true_inner = int(truth.node_in_graph.sum()) - 2  # minus input and logits
    kept = top_nodes_circuit(scored, n_true_inner)
    assert torch.equal(kept.node_in_graph, truth.node_in_graph)
    assert kept.edge_in_graph[truth.edge_in_graph].all()
    assert truth.node_in_graph[graph.edge_parent[kept.edge_in_graph]].all()
    assert truth.node_in_graph[graph.edge_child[kept.edge_in_graph]].all()
    f, _, _ = circuit_faithfulness(task, [kept, top_nodes_circuit(scored, n_true_inner - 1)])
    assert f[0] == pytest.approx(1.0, abs=1e-4)
    assert f[1] < 0.99  # one true node short
    result = faithfulness_curves(task, scored, level="node", rounding="ceil", progress=False)
    n_inner = graph.n_nodes - 2
    assert result.absolute.n_requested == [item_count(p, n_inner, "ceil") for p in FRACTIONS]
    assert result.absolute.faithfulness[-1] == pytest.approx(1.0, abs=1e-6)
