"""Exact patching (vs naive hooks, and on Tracr ground truth) and information flow routes."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case
from circuits_benchmark.graph import NodeKind, resolve_source
from circuits_benchmark.graph.naive import naive_node_patched_forward, naive_single_edge_effects
from circuits_benchmark.methods import MethodConfig, run_method
from circuits_benchmark.methods.eap import scoring_metric
from circuits_benchmark.methods.ifr import ifr_edge_scores, proximity_importance
from circuits_benchmark.tasks import PatchingTask, task_from_case

torch.set_num_threads(1)
D_VOCAB = 9


def toy_task(seed: int = 0, batch: int = 4, seq: int = 5, pad: bool = False) -> PatchingTask:
    cfg = HookedTransformerConfig(n_layers=2, n_heads=2, d_model=8, d_head=4, n_ctx=8, d_vocab=D_VOCAB,
                                  act_fn="gelu", normalization_type="LN", dtype=torch.float64, seed=seed)
    model = HookedTransformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 if name.endswith(".w") else 0.0) + 0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    model.eval()
    clean = torch.randint(0, D_VOCAB, (batch, seq), generator=gen)
    corrupted = torch.randint(0, D_VOCAB, (batch, seq), generator=gen)
    positions = torch.ones(batch, seq, dtype=torch.bool)
    mask = None
    if pad:  # right padding on the first example
        mask = torch.ones(batch, seq, dtype=torch.long)
        mask[0, -2:] = 0
        positions = mask.bool()
    return PatchingTask(model, clean, corrupted, positions, True, clean_mask=mask, corrupted_mask=mask)


@pytest.fixture(scope="module")
def task() -> PatchingTask:
    return toy_task()


# ---------------------------------------------------------------------------- exact patching
@pytest.mark.parametrize("ablation", ["patching", "zero"])
def test_exact_edge_scores_match_naive_one_forward_per_edge(task, ablation):
    graph = task.graph()
    metric = scoring_metric(task, "kl")
    source = resolve_source(task.model, graph, task.source(ablation), tuple(task.clean_tokens.shape))
    naive = naive_single_edge_effects(task.model, graph, task.clean_tokens, source, metric).to(torch.float64)
    exact = run_method("exact", task, MethodConfig(ablation=ablation, batch_size=7, progress=False)).edge_scores
    assert (naive > 1e-4).sum() > graph.n_edges // 2
    torch.testing.assert_close(exact, naive - float(metric(task.clean_logits)), atol=1e-10, rtol=1e-8)
    assert exact.min() >= -1e-12  # KL can only grow when an edge is removed


def test_exact_node_scores_match_naive_node_patching(task):
    graph = task.graph()
    metric = scoring_metric(task, "logit_diff")
    source = resolve_source(task.model, graph, task.source("mean"), tuple(task.clean_tokens.shape))
    circuit = run_method("exact", task, MethodConfig(level="node", ablation="mean", metric="logit_diff", progress=False))
    clean = float(metric(task.clean_logits))
    for node in graph.upstream_nodes:
        with torch.no_grad():
            logits = naive_node_patched_forward(task.model, graph, task.clean_tokens, [node.name], source)
        expected = -(float(metric(logits)) - clean)  # logit_diff: importance = drop
        assert circuit.node_scores[node.index].item() == pytest.approx(expected, abs=1e-10), node.name
    assert torch.isnan(circuit.node_scores[graph.node_index("logits")])
    assert torch.equal(circuit.edge_scores, circuit.node_scores[graph.edge_parent])


def test_exact_neuron_scores_match_overwriting_one_dimension(task):
    graph = task.graph()
    metric = scoring_metric(task, "kl")
    source = resolve_source(task.model, graph, task.source("patching"), tuple(task.clean_tokens.shape))
    circuit = run_method("exact", task, MethodConfig(level="neuron", progress=False))
    assert circuit.neuron_scores.shape == (graph.n_upstream, graph.cfg.d_model)
    for name, dim in [("input", 0), ("a0.h1", 3), ("m0", 5), ("a1.h0", 7)]:
        node = graph.node(name)

        def overwrite(act, hook, node=node, dim=dim):
            act = act.clone()
            value = source[..., node.upstream_index, dim]
            if node.kind is NodeKind.ATTENTION:
                act[:, :, node.head, dim] = value
            else:
                act[..., dim] = value
            return act

        with torch.no_grad():
            logits = task.model.run_with_hooks(task.clean_tokens, fwd_hooks=[(node.output_hook, overwrite)])
        expected = float(metric(logits))
        assert circuit.neuron_scores[node.upstream_index, dim].item() == pytest.approx(expected, abs=1e-10), name


@pytest.mark.parametrize("case_id", ["3", pytest.param("4", marks=pytest.mark.slow)])
def test_exact_patching_ranks_the_true_circuit_first(case_id):
    compiled = compile_case(get_case(case_id))
    task = task_from_case(compiled, n_examples=24, seed=0)
    graph = task.graph()
    truth = compiled.true_circuit(graph).edge_in_graph.numpy()
    scores = run_method("exact", task, MethodConfig(progress=False)).edge_scores
    auroc = roc_auc_score(truth, scores.abs().numpy())
    assert auroc >= 0.95, auroc
    node_circuit = run_method("exact", task, MethodConfig(level="node", progress=False))
    true_nodes = compiled.true_circuit(graph).node_in_graph
    upstream = [n.index for n in graph.upstream_nodes]
    node_auroc = roc_auc_score(true_nodes[upstream].numpy(), node_circuit.node_scores[upstream].abs().numpy())
    assert node_auroc >= 0.95, node_auroc


# ---------------------------------------------------------------------------- information flow routes
@pytest.mark.parametrize("pad", [False, True])
def test_ifr_scores_are_proportions_per_downstream_input(pad):
    task = toy_task(seed=2, pad=pad)
    graph = task.graph()
    scores = ifr_edge_scores(task, graph, MethodConfig(progress=False))
    assert scores.min() >= 0
    per_input = torch.zeros(graph.n_downstream, dtype=torch.float64).index_add_(0, graph.edge_downstream, scores)
    torch.testing.assert_close(per_input, torch.ones_like(per_input), atol=1e-10, rtol=0)
    single = torch.tensor([graph.downstream_inputs[int(d)].n_parents == 1 for d in graph.edge_downstream])
    torch.testing.assert_close(scores[single], torch.ones(int(single.sum()), dtype=torch.float64))
    assert ((scores[~single] > 1e-3) & (scores[~single] < 0.999)).sum() > graph.n_edges // 3  # shared inputs


def test_ifr_matches_the_formula_position_by_position():
    task = toy_task(seed=5, pad=True)
    graph = task.graph()
    scores = ifr_edge_scores(task, graph, MethodConfig(progress=False, extra={"examples_per_batch": 3}))
    with torch.no_grad():
        _, cache = task.model.run_with_cache(task.clean_tokens, attention_mask=task.clean_mask)
    for down_name in ["a1.h1<k>", "m1", "logits"]:
        down = graph.downstream_by_name[down_name]
        parents = graph.upstream_nodes[:down.n_parents]
        y_all = cache[down.hook_name]
        per_example = []
        for b in range(task.clean_tokens.shape[0]):
            rows = []
            for p in range(int(task.clean_mask[b].sum())):
                y = y_all[b, p, down.node.head] if down.qkv else y_all[b, p]
                prox = []
                for u in parents:
                    x = cache[u.output_hook][b, p, u.head] if u.is_head else cache[u.output_hook][b, p]
                    prox.append(max(0.0, float(y.abs().sum() - (y - x).abs().sum())))
                prox = torch.tensor(prox, dtype=torch.float64)
                rows.append(prox / prox.sum())
            per_example.append(torch.stack(rows).mean(0))
        expected = torch.stack(per_example).mean(0)
        got = torch.stack([scores[graph.edge_index(f"{u.name}->{down_name}")] for u in parents])
        torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-8)


def test_ifr_node_level_and_undefined_positions():
    task = toy_task(seed=1)
    graph = task.graph()
    node = run_method("ifr", task, MethodConfig(level="node", progress=False))
    edge = run_method("ifr", task, MethodConfig(progress=False)).edge_scores
    expected = torch.zeros(graph.n_nodes, dtype=torch.float64).index_add_(0, graph.edge_parent, edge)
    upstream = [n.index for n in graph.upstream_nodes]
    torch.testing.assert_close(node.node_scores[upstream], expected[upstream])
    importance, defined = proximity_importance(torch.zeros(2, 4, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64))
    assert not defined.any() and torch.equal(importance, torch.zeros(2, 3, dtype=torch.float64))


def test_ifr_memory_chunking_does_not_change_scores(monkeypatch):
    import circuits_benchmark.methods.ifr as ifr_module

    task = toy_task(seed=3, pad=True)
    graph = task.graph()
    whole = ifr_edge_scores(task, graph, MethodConfig(progress=False))
    monkeypatch.setattr(ifr_module, "MAX_ELEMENTS", 1)  # one example per temporary tensor
    torch.testing.assert_close(ifr_edge_scores(task, graph, MethodConfig(progress=False)), whole, atol=1e-12, rtol=0)
