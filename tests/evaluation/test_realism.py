"""Realism: per-node ablation effects, in vs out of the true circuit, on a Tracr case."""

from __future__ import annotations

import pytest

from circuits_benchmark.evaluation.realism import format_realism_table, gt_node_realism, node_realism, realism_table
from circuits_benchmark.graph import nodes_removed_mask, patched_forward


def test_node_effects_match_single_ablations(case2):
    compiled, task = case2
    graph = task.graph()
    rows = node_realism(task, progress=False)
    assert [r.node for r in rows] == [n.name for n in graph.nodes if n.name not in ("input", "logits")]
    source = task.source("patching")
    for r in rows:
        logits = patched_forward(task.model, graph, task.clean_tokens, nodes_removed_mask(graph, [r.node]),
                                 source, task.clean_mask).detach()
        assert r.metric_value == pytest.approx(float(task.metric(logits)), rel=1e-5, abs=1e-7)
        assert r.effect == pytest.approx(r.metric_value, abs=1e-7)  # kl: effect = divergence
        assert r.accuracy == pytest.approx(float(task.metric(logits, "accuracy")))


def test_tracr_nodes_outside_the_truth_do_not_matter(case2):
    compiled, task = case2
    summary = gt_node_realism(task, compiled.alignment.mib_edges("patching"), model_name="tracr", progress=False)
    inside = [r for r in summary.rows if r.in_circuit]
    outside = [r for r in summary.rows if not r.in_circuit]
    assert inside and outside
    assert summary.max_effect_outside == pytest.approx(0.0, abs=1e-5)
    assert summary.min_accuracy_outside == pytest.approx(1.0)
    # some true nodes matter (others, e.g. the length computation of case 2, see the same value
    # in clean and corrupted inputs of equal length, so resampling them changes nothing)
    assert max(r.effect for r in inside) > 1e-3
    assert summary.mean_effect_circuit > summary.mean_effect_outside


def test_score_metric_effect_is_a_drop(case2):
    compiled, task = case2
    rows = {r.node: r for r in node_realism(task, metric="logit_diff", progress=False)}
    full = float(task.metric(task.clean_logits, "logit_diff"))
    for r in rows.values():
        assert r.effect == pytest.approx(full - r.metric_value, abs=1e-5)


def test_table_compares_models_on_the_union_of_nodes(case2):
    compiled, task = case2
    rows, summaries = realism_table({"tracr": task, "again": task}, compiled.alignment.mib_edges("patching"),
                                    progress=False)
    assert [s.model for s in summaries] == ["tracr", "again"]
    assert all(r["tracr_effect"] == pytest.approx(r["again_effect"]) for r in rows)
    text = format_realism_table(rows, summaries)
    assert "tracr effect" in text and "again acc" in text
    assert len(text.splitlines()) == 1 + len(rows) + 1 + len(summaries)


def test_a_trained_models_truth_keeps_its_position_only_nodes():
    """Case 103's position-only components are constant in the Tracr model, so its resample truth
    leaves them out; the shipped SIIT model computes them from the tokens, so its truth is every
    high-level edge (as InterpBench's edges.pkl), and only that truth carries the behaviour alone."""
    from circuits_benchmark.evaluation.realism import circuit_score
    from circuits_benchmark.models import load_subject

    siit = load_subject("103", "siit", None, None, "cpu")
    task = siit.task(32, 0)
    graph = task.graph()
    every_edge = siit.compiled.true_circuit(graph, "zero")
    resample = siit.compiled.true_circuit(graph, "patching")
    assert resample.n_edges < every_edge.n_edges
    for ablation in ("patching", "mean", "optimal", "zero"):
        assert siit.truth(graph, ablation).edge_names() == every_edge.edge_names()

    reference, defined = siit.reference(task)
    kept = circuit_score(task, siit.truth(graph), reference, defined, "patching").score
    without = circuit_score(task, resample, reference, defined, "patching").score
    assert kept >= 0.95 and without < 0.5

    tracr = load_subject("103", "tracr", None, None, "cpu")
    tracr_graph = tracr.task(8, 0).graph()
    assert tracr.truth(tracr_graph).edge_names() == tracr.compiled.true_circuit(tracr_graph, "patching").edge_names()
