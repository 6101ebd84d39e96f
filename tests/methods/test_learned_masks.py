"""Learned-mask methods: subnetwork probing, UGS, optimal ablation."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from sklearn.metrics import roc_auc_score

from circuits_benchmark.graph import PatchSource, mean_node_outputs, patched_forward, resolve_source
from circuits_benchmark.methods.base import MethodConfig
from circuits_benchmark.methods.optimal_ablation import (
    learn_optimal_ablation,
    method_loss,
    optimal_ablation_method,
    single_node_ablation_masks,
)
from circuits_benchmark.methods.subnetwork_probing import (
    deterministic_mask,
    hard_concrete_penalty,
    sample_hard_concrete,
    subnetwork_probing,
)
from circuits_benchmark.methods.ugs import sample_uniform_window_masks, uniform_gradient_sampling

from test_acdc import random_task

warnings.filterwarnings("ignore", category=DeprecationWarning)
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def case3():
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.tasks import task_from_case

    compiled = compile_case(get_case("3"))
    task = task_from_case(compiled, 16)
    graph = task.graph()
    return task, graph, compiled.true_circuit(graph)


def test_hard_concrete_penalty_matches_hand_computation():
    log_alpha = torch.tensor([0.0, 1.5, -2.0])
    shift = (2 / 3) * math.log(0.1 / 1.1)  # beta * log(-gamma / zeta)
    hand = sum(1 / (1 + math.exp(-(a - shift))) for a in (0.0, 1.5, -2.0)) / 3
    assert float(hard_concrete_penalty(log_alpha)) == pytest.approx(hand, rel=1e-6)
    # deterministic mask: clamp(sigmoid(a) * 1.2 - 0.1, 0, 1)
    assert deterministic_mask(torch.tensor([0.0, 10.0, -10.0])).tolist() == pytest.approx([0.5, 1.0, 0.0], abs=1e-4)
    samples = sample_hard_concrete(torch.full((2000,), 0.0), torch.Generator().manual_seed(0))
    assert 0.0 <= float(samples.min()) and float(samples.max()) <= 1.0
    # the stretched distribution puts mass sigmoid(beta * logit(0.1 / 1.2)) on exactly 0 (and, at
    # log_alpha = 0, by symmetry the same on exactly 1)
    p_zero = 1 / (1 + math.exp(-(2 / 3) * math.log((0.1 / 1.2) / (1.1 / 1.2))))
    assert float((samples == 0).float().mean()) == pytest.approx(p_zero, abs=0.03)
    assert float((samples == 1).float().mean()) == pytest.approx(p_zero, abs=0.03)


def test_sp_lambda_zero_keeps_everything_and_large_lambda_prunes(case3):
    task, graph, truth = case3
    config = MethodConfig(level="node", lambdas=[0.0, 50.0], epochs=150, lr=0.1, progress=False)
    circuit = subnetwork_probing(task, graph, config)
    upstream = [n.index for n in graph.upstream_nodes]
    scores = circuit.node_scores[upstream]
    assert circuit.threshold(0.0).n_edges == graph.n_edges  # lambda 0: every node kept
    assert int((scores >= 50.0).sum()) < len(upstream) // 2  # large lambda: most nodes pruned
    edge_config = MethodConfig(level="edge", lambdas=[0.0, 50.0], epochs=150, lr=0.1, progress=False)
    edge_circuit = subnetwork_probing(task, graph, edge_config)
    assert int((edge_circuit.edge_scores >= 0.0).sum()) == graph.n_edges
    assert int((edge_circuit.edge_scores >= 50.0).sum()) <= graph.n_edges // 2


def test_sp_recovers_the_true_nodes(case3):
    task, graph, truth = case3
    circuit = subnetwork_probing(task, graph, MethodConfig(level="node", epochs=150, lr=0.1, progress=False))
    upstream = [n.index for n in graph.upstream_nodes]
    auroc = roc_auc_score(truth.node_in_graph[upstream].numpy(), circuit.node_scores[upstream].numpy())
    assert auroc >= 0.95


def test_ugs_window_sampling_and_gradient():
    theta = torch.tensor([2.0, 0.0, -2.0], requires_grad=True)
    masks = sample_uniform_window_masks(theta, 4000, torch.Generator().manual_seed(0))
    p = torch.sigmoid(theta.detach())
    assert torch.allclose(masks.mean(0).detach(), p, atol=0.03)  # mean mask = keep probability
    masks.sum().backward()
    # inside the window d mask / d theta = p (1 - p); the window has probability p (1 - p)
    expected = 4000 * (p * (1 - p)) ** 2
    assert torch.allclose(theta.grad, expected, rtol=0.15)


def test_ugs_ranks_true_edges_above_others(case3):
    task, graph, truth = case3
    circuit = uniform_gradient_sampling(task, graph, MethodConfig(epochs=150, progress=False))
    scores = circuit.edge_scores
    assert ((scores > 0) & (scores < 1)).all()  # keep probabilities: ranking by |score| keeps their order
    auroc = roc_auc_score(truth.edge_in_graph.numpy(), scores.abs().numpy())
    assert auroc >= 0.9
    assert float(scores[truth.edge_in_graph].min()) > float(scores[~truth.edge_in_graph].median())


def test_optimal_ablation_beats_mean_ablation():
    task = random_task(seed=3)
    graph = task.graph()
    values = learn_optimal_ablation(task, graph, epochs=60, lr=0.05, progress=False)
    assert values.shape == (graph.n_upstream, graph.cfg.d_model)
    heads = [n.upstream_index for n in graph.upstream_nodes if n.is_head and n.layer == 0]
    assert not torch.allclose(values[heads[0]], values[heads[1]])  # one vector per head
    mean = mean_node_outputs(task.model, graph, task.clean_tokens, per_position=False, progress=False)[0]
    masks = single_node_ablation_masks(graph, torch.float64)
    loss = method_loss(task)
    with torch.no_grad():
        optimal = loss(patched_forward(task.model, graph, task.clean_tokens, masks, PatchSource.learned(values)))
        mean_loss = loss(patched_forward(task.model, graph, task.clean_tokens, masks, PatchSource.learned(mean)))
        per_position_mean = resolve_source(task.model, graph, PatchSource.mean(task.clean_tokens), (6, 4))
        pos_loss = loss(patched_forward(task.model, graph, task.clean_tokens, masks, per_position_mean))
    assert bool((optimal <= mean_loss + 1e-9).all())
    assert float(optimal.sum()) < 0.9 * float(mean_loss.sum())
    assert float(optimal.sum()) < float(pos_loss.sum())


def test_oa_method_scores_edges_and_nodes(case3):
    task, graph, truth = case3
    config = MethodConfig(progress=False, extra={"oa_epochs": 40})
    circuit = optimal_ablation_method(task, graph, config)
    auroc = roc_auc_score(truth.edge_in_graph.numpy(), circuit.edge_scores.numpy())
    assert auroc >= 0.8
    node_circuit = optimal_ablation_method(task, graph, MethodConfig(level="node", progress=False,
                                                                     extra={"oa_epochs": 40}))
    upstream = [n.index for n in graph.upstream_nodes]
    assert roc_auc_score(truth.node_in_graph[upstream].numpy(), node_circuit.node_scores[upstream].numpy()) >= 0.95


def test_optimal_values_are_learned_once_per_model_data_and_settings(tmp_path, monkeypatch):
    from circuits_benchmark.methods import optimal_ablation as oa

    task = random_task(seed=4)
    graph = task.graph()
    cache = tmp_path / "cache" / "oa_values.pt"
    config = MethodConfig(level="node", ablation="optimal", progress=False,
                          extra={"oa_cache": str(cache), "oa_epochs": 3})
    learned = oa.method_source(task, graph, config)
    assert cache.exists()

    def no_learning(*args, **kwargs):
        raise AssertionError("learned again")

    monkeypatch.setattr(oa, "learn_optimal_ablation", no_learning)
    assert torch.equal(oa.method_source(task, graph, config), learned)
    for changed in (MethodConfig(level="node", ablation="optimal", progress=False,  # other settings
                                 extra={"oa_cache": str(cache), "oa_epochs": 4}),
                    config):
        other_task = task if changed is not config else random_task(seed=5)  # other data
        with pytest.raises(AssertionError, match="learned again"):
            oa.method_source(other_task, other_task.graph(), changed)
    cache.write_bytes(b"half a file")  # an unreadable cache is learned again, never trusted
    with pytest.raises(AssertionError, match="learned again"):
        oa.method_source(task, graph, config)
