"""ACDC: threshold extremes, exactness of the batched (speculative) variant, sweep scores, Tracr recovery."""

from __future__ import annotations

import random
import warnings

import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.graph import Circuit, prepare_model, prune_edges
from circuits_benchmark.methods.acdc import (
    DEFAULT_THRESHOLDS,
    acdc,
    acdc_circuit,
    greedy_removal,
    make_evaluator,
    run_acdc_edges,
    sweep_scores,
)
from circuits_benchmark.methods.base import MethodConfig
from circuits_benchmark.methods.optimal_ablation import ablation_effects, method_source
from circuits_benchmark.graph import single_edge_ablation_masks
from circuits_benchmark.tasks import PatchingTask

warnings.filterwarnings("ignore", category=DeprecationWarning)
torch.set_num_threads(1)
D_VOCAB = 9


def random_task(seed: int = 0) -> PatchingTask:
    """A float64 random 2-layer model (every parameter random) on random clean / corrupted batches."""
    cfg = HookedTransformerConfig(n_layers=2, n_heads=2, d_model=8, d_head=4, d_mlp=16, n_ctx=6, d_vocab=D_VOCAB,
                                  act_fn="gelu", normalization_type="LN", dtype=torch.float64, seed=seed)
    model = HookedTransformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            base, scale = (1.0, 0.2) if name.endswith(".w") else (0.0, 0.6)
            p.copy_(base + scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    model.eval()
    prepare_model(model)
    clean = torch.randint(0, D_VOCAB, (6, 4), generator=gen)
    corrupted = torch.randint(0, D_VOCAB, (6, 4), generator=gen)
    return PatchingTask(model, clean, corrupted, torch.ones(6, 4, dtype=torch.bool), is_categorical=True)


@pytest.fixture(scope="module")
def toy():
    task = random_task()
    graph = task.graph()
    source = method_source(task, graph, MethodConfig(progress=False))
    return task, graph, source


def test_negative_tau_keeps_everything_and_huge_tau_keeps_nothing(toy):
    task, graph, source = toy
    config = MethodConfig(progress=False)
    assert acdc_circuit(task, graph, -1.0, config, source).n_edges == graph.n_edges
    assert acdc_circuit(task, graph, 1e6, config, source).n_edges == 0
    node_config = MethodConfig(level="node", progress=False)
    assert acdc_circuit(task, graph, -1.0, node_config, source).n_edges == graph.n_edges
    assert acdc_circuit(task, graph, 1e6, node_config, source).n_edges == 0


def test_tau_zero_keeps_every_edge_with_an_effect(toy):
    task, graph, source = toy
    circuit = acdc_circuit(task, graph, 0.0, MethodConfig(progress=False), source)
    masks = single_edge_ablation_masks(graph, torch.arange(graph.n_edges), torch.float64)
    effects = ablation_effects(task, graph, masks, source, progress=False)
    assert (effects.abs() > 1e-6).sum() > 10  # the toy has many effective edges
    assert bool(circuit.edge_in_graph[effects > 1e-6].all())
    # and the circuit is as faithful as the full model (KL never increased)
    evaluate, _ = make_evaluator(task, graph, source, None, 8)
    assert float(evaluate(circuit.to_edge_mask(torch.float64)[None])[0]) < 1e-9


def _synthetic_loss(n: int, seed: int):
    """A deterministic, strongly non-additive loss over masks (pairwise interactions)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.rand(n, generator=gen, dtype=torch.float64) * 0.02
    pair = torch.randn(n, n, generator=gen, dtype=torch.float64) * 0.01
    calls = [0]

    def evaluate(masks: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        off = 1.0 - masks.to(torch.float64)
        return off @ w + torch.einsum("ci,ij,cj->c", off, pair, off).abs()

    return evaluate, calls


@pytest.mark.parametrize("seed", range(6))
def test_speculative_batching_equals_sequential_on_synthetic_losses(seed):
    n = 14
    evaluate, calls = _synthetic_loss(n, seed)
    candidates = [torch.tensor([i]) for i in range(n)]
    dead = set(random.Random(seed).sample(range(n), 2))
    start = torch.ones(n)
    cur = float(evaluate(start[None])[0])
    for tau in (0.0, 0.005, 0.01, 0.03):
        results = []
        for window in (1, 3, 32):
            calls[0] = 0
            mask, loss = greedy_removal(candidates, start, cur, tau, evaluate, window, lambda j, m: j in dead)
            results.append((mask, loss, calls[0]))
        (seq_mask, seq_loss, seq_calls), *batched = results
        for mask, loss, n_calls in batched:
            assert torch.equal(mask, seq_mask)
            assert loss == pytest.approx(seq_loss, abs=1e-12)
            assert n_calls <= seq_calls


def test_batched_acdc_equals_sequential_on_a_random_model(toy):
    task, graph, source = toy
    evaluate, count = make_evaluator(task, graph, source, None, 64)
    for tau in (1e-4, 1e-3, 1e-2):
        count.reset()
        sequential = run_acdc_edges(graph, evaluate, tau, window=1)
        sequential_passes, sequential_circuits = count.passes, count.circuits
        count.reset()
        batched = run_acdc_edges(graph, evaluate, tau, window=64)
        assert torch.equal(sequential, batched)
        assert count.passes < sequential_passes
        assert count.circuits < 1.5 * sequential_circuits  # adaptive windows waste few circuits


def test_the_sweeps_memo_changes_no_score_and_saves_evaluations(toy):
    """The sweep's runs share a memo of mask losses: scores equal independent runs without it."""
    task, graph, source = toy
    taus = [1e-4, 1e-3, 3e-3, 1e-2]
    scored = acdc(task, graph, MethodConfig(thresholds=taus, progress=False))
    plain, plain_count = make_evaluator(task, graph, source, None, 2)
    kept = [prune_edges(graph, run_acdc_edges(graph, plain, tau, 2) > 0) for tau in taus]
    assert torch.equal(scored.edge_scores, sweep_scores(taus, kept))
    memo, memo_count = make_evaluator(task, graph, source, None, 2, memo=True)
    for tau in taus:
        run_acdc_edges(graph, memo, tau, 2)
    assert memo_count.reused > 0 and memo_count.circuits + memo_count.reused == plain_count.circuits
    masks = torch.stack([graph.full_edge_mask(1.0, torch.float64), graph.full_edge_mask(0.5, torch.float64)])
    # a soft mask is evaluated, never looked up (equal up to the float noise of a pass's batch make-up:
    # the full mask's loss, about 0, was memoised from a pass with other circuits)
    torch.testing.assert_close(memo(masks), plain(masks), rtol=1e-9, atol=1e-12)
    before = memo_count.circuits
    memo(masks)
    assert memo_count.circuits == before + 1


def test_sweep_scores_reproduce_nested_sweeps():
    gen = torch.Generator().manual_seed(0)
    n, taus = 50, [0.3, 0.01, 0.1, 1.0]
    rank = torch.rand(n, generator=gen)
    kept = [rank > t for t in taus]  # nested: larger tau keeps fewer
    scores = sweep_scores(taus, kept)
    for tau, k in zip(taus, kept):
        assert torch.equal(scores >= tau, k)
    assert bool((scores[~kept[1]] == 0).all())
    # a non-nested sweep scores an edge by the smallest tau that removed it
    scores = sweep_scores([0.1, 0.2], [torch.tensor([False, True]), torch.tensor([True, True])])
    assert scores.tolist() == [0.0, 0.2]


def test_nested_sweep_threshold_reproduces_each_circuit(toy):
    task, graph, _ = toy
    taus = [1e-3, 1e-2, 5e-2]
    config = MethodConfig(thresholds=taus, progress=False, extra={"nested": True})
    scored = acdc(task, graph, config)
    source = method_source(task, graph, config)
    evaluate, _ = make_evaluator(task, graph, source, None, 32)
    previous = None
    for tau in taus:
        previous = run_acdc_edges(graph, evaluate, tau, 32, previous)
        expected = prune_edges(graph, previous > 0)
        assert torch.equal(scored.threshold(tau).edge_in_graph, expected)
    assert len(DEFAULT_THRESHOLDS) == 20


@pytest.mark.parametrize("case_id", ["3", "12"])
def test_acdc_recovers_tracr_circuits(case_id):
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.tasks import task_from_case

    compiled = compile_case(get_case(case_id))
    task = task_from_case(compiled, 16)
    graph = task.graph()
    truth = compiled.true_circuit(graph)
    circuit: Circuit = acdc(task, graph, MethodConfig(thresholds=[1e-4, 1e-3, 1e-2], progress=False))
    auroc = roc_auc_score(truth.edge_in_graph.numpy(), circuit.edge_scores.numpy())
    assert auroc >= 0.95
    node_circuit = acdc(task, graph, MethodConfig(level="node", thresholds=[1e-3], progress=False))
    assert node_circuit.threshold(1e-3).node_names() == truth.node_names()
