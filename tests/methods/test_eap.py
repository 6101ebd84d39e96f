"""EAP / EAP-IG: exactness where the metric is linear, completeness of integrated gradients, levels."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.graph import patched_forward, prepare_model, resolve_source
from circuits_benchmark.methods import MethodConfig, run_method
from circuits_benchmark.methods.eap import scoring_metric
from circuits_benchmark.tasks import PatchingTask

torch.set_num_threads(1)
D_VOCAB = 11


def toy_model(seed: int = 0, d_vocab_out: int = -1, **kwargs) -> HookedTransformer:
    """A float64 random model with every parameter (biases, LN too) drawn at random."""
    spec = dict(n_layers=2, n_heads=2, d_model=12, d_head=6, act_fn="gelu", normalization_type="LN")
    spec.update(kwargs)
    cfg = HookedTransformerConfig(n_ctx=8, d_vocab=D_VOCAB, d_vocab_out=d_vocab_out, dtype=torch.float64, seed=seed, **spec)
    model = HookedTransformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.2 if name.endswith(".w") else 0.5
            base = 1.0 if name.endswith(".w") else 0.0
            p.copy_(base + scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    model.eval()
    return prepare_model(model)


def toy_task(model: HookedTransformer, categorical: bool = True, batch: int = 6, seq: int = 5, seed: int = 1) -> PatchingTask:
    gen = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, D_VOCAB, (batch, seq), generator=gen)
    corrupted = torch.randint(0, D_VOCAB, (batch, seq), generator=gen)
    positions = torch.ones(batch, seq, dtype=torch.bool)
    positions[:, 0] = False
    return PatchingTask(model, clean, corrupted, positions, categorical)


def metric_under_mask(task: PatchingTask, mask: torch.Tensor, metric: str, ablation: str = "patching") -> float:
    graph = task.graph()
    with torch.no_grad():
        logits = patched_forward(task.model, graph, task.clean_tokens, mask.to(torch.float64), task.source(ablation))
    return float(scoring_metric(task, metric)(logits))


def exact_scores(task: PatchingTask, metric: str, ablation: str = "patching") -> torch.Tensor:
    return run_method("exact", task, MethodConfig(metric=metric, ablation=ablation, progress=False)).edge_scores


# ---------------------------------------------------------------------------- EAP is exact where linear
@pytest.mark.parametrize("ablation", ["patching", "mean", "zero"])
def test_eap_equals_exact_patching_where_the_metric_is_linear(ablation):
    """1-layer attention-only model without LayerNorm: logits are linear in every head output and in the
    v inputs (attention patterns only depend on q, k), and logit_diff is linear in the logits."""
    model = toy_model(n_layers=1, n_heads=3, d_model=12, d_head=4, attn_only=True, normalization_type=None)
    task = toy_task(model)
    graph = task.graph()
    eap = run_method("eap", task, MethodConfig(metric="logit_diff", ablation=ablation, progress=False)).edge_scores
    exact = exact_scores(task, "logit_diff", ablation)
    linear = torch.tensor([e.child.name == "logits" or e.qkv == "v" for e in graph.edges])
    assert linear.sum() >= 7 and exact[linear].abs().max() > 1e-2  # not vacuous
    torch.testing.assert_close(eap[linear], exact[linear], atol=1e-9, rtol=1e-7)
    # q / k edges act through the softmax: EAP is only a first-order estimate there
    assert (eap[~linear] - exact[~linear]).abs().max() > 1e-6


def test_eap_equals_exact_on_logit_edges_of_a_numerical_task():
    """No final LayerNorm: logit edges are linear for any model; output_diff is linear in the output."""
    model = toy_model(d_vocab_out=1, normalization_type=None, act_fn="relu")
    task = toy_task(model, categorical=False)
    graph = task.graph()
    eap = run_method("eap", task, MethodConfig(progress=False)).edge_scores  # default metric: output_diff
    exact = exact_scores(task, "output_diff")
    into_logits = graph.edges_into("logits")
    assert exact[into_logits].abs().max() > 1e-3
    torch.testing.assert_close(eap[into_logits], exact[into_logits], atol=1e-9, rtol=1e-7)


def test_eap_sign_means_damage():
    """Importance = damage: removing the edge that carries the answer lowers logit_diff, so its score is > 0,
    and the orientation flips for a divergence metric on the same change."""
    model = toy_model(n_layers=1, attn_only=True, normalization_type=None)
    task = toy_task(model)
    ld = exact_scores(task, "logit_diff")
    graph = task.graph()
    clean_ld = metric_under_mask(task, graph.full_edge_mask(), "logit_diff")
    e = int(ld.abs().argmax())
    patched = metric_under_mask(task, graph.edge_mask_from_names(
        [n for n in graph.edge_names() if n != graph.edge_name(e)]), "logit_diff")
    assert ld[e].item() == pytest.approx(clean_ld - patched, rel=1e-9)


def test_eap_with_kl_warns_and_vanishes_while_ig_does_not():
    model = toy_model()
    task = toy_task(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eap = run_method("eap", task, MethodConfig(metric="kl", progress=False)).edge_scores
    assert any("gradient at the clean point is zero" in str(w.message) for w in caught)
    assert eap.abs().max() < 1e-10
    ig = run_method("eap-ig-activations", task, MethodConfig(metric="kl", ig_steps=4, progress=False)).edge_scores
    assert ig.abs().max() > 1e-4


# ---------------------------------------------------------------------------- integrated gradients
def completeness_errors(task: PatchingTask, method: str, steps_list: list[int], metric: str, ablation: str) -> list[float]:
    """|sum of scores - total effect| for each number of steps (EAP for steps = 0).

    eap-ig-activations: scores over all edges vs orientation * (m(empty) - m(clean));
    eap-ig-inputs: scores of the input node's edges vs orientation * (m(input edges patched) - m(clean)).
    """
    graph = task.graph()
    m = scoring_metric(task, metric)
    clean = metric_under_mask(task, graph.full_edge_mask(), metric, ablation)
    if method == "eap-ig-activations":
        selected = torch.ones(graph.n_edges, dtype=torch.bool)
        target_mask = graph.full_edge_mask(0.0)
    else:
        selected = torch.zeros(graph.n_edges, dtype=torch.bool)
        selected[graph.edges_out_of("input")] = True
        target_mask = (~selected).to(torch.float64)
    total = m.orientation * (metric_under_mask(task, target_mask, metric, ablation) - clean)
    assert abs(total) > 1e-2
    errors = []
    for steps in steps_list:
        name = "eap" if steps == 0 else method
        config = MethodConfig(metric=metric, ablation=ablation, ig_steps=max(steps, 1), progress=False)
        scores = run_method(name, task, config).edge_scores
        errors.append(abs(float(scores[selected].sum()) - total) / abs(total))
    return errors


@pytest.mark.parametrize("method,ablation", [("eap-ig-activations", "patching"), ("eap-ig-activations", "mean"),
                                             ("eap-ig-activations", "zero"), ("eap-ig-inputs", "patching"),
                                             ("eap-ig-inputs", "mean")])
def test_integrated_gradients_converge_to_the_total_effect(method, ablation):
    """Completeness: with more steps the scores add up to the effect of patching everything (towards the
    chosen source: interpolating towards zero under mean ablation would miss the mean-ablated total)."""
    model = toy_model()
    task = toy_task(model)
    eap_error, coarse, fine = completeness_errors(task, method, [0, 2, 40], "logit_diff", ablation)
    # the Riemann error falls like 1/steps; zero ablation (LayerNorm of a near-zero residual) is the roughest
    assert fine < (0.08 if ablation == "zero" else 0.03)
    assert fine < coarse
    assert fine < eap_error


def test_ig_approaches_exact_patching_better_than_eap_for_a_single_edge_path():
    """Patching only the input's edges = corrupting the input: EAP-IG (inputs) with many steps matches the
    exact effect of that patch (summed over the input's edges) much better than EAP."""
    model = toy_model(seed=3)
    task = toy_task(model, seed=4)
    errors = completeness_errors(task, "eap-ig-inputs", [0, 1, 4, 32], "logit_diff", "patching")
    assert errors[-1] < errors[0] / 5
    assert errors[3] <= errors[2] + 1e-9


# ---------------------------------------------------------------------------- levels and batching
@pytest.mark.parametrize("method", ["eap", "eap-ig-inputs", "eap-ig-activations"])
def test_node_and_neuron_levels_aggregate_edge_scores(method):
    model = toy_model()
    task = toy_task(model)
    graph = task.graph()
    cfg = dict(metric="logit_diff", ig_steps=3, progress=False)
    edge = run_method(method, task, MethodConfig(level="edge", **cfg))
    node = run_method(method, task, MethodConfig(level="node", **cfg))
    neuron = run_method(method, task, MethodConfig(level="neuron", **cfg))
    expected = torch.zeros(graph.n_nodes, dtype=torch.float64).index_add_(0, graph.edge_parent, edge.edge_scores)
    upstream = [n.index for n in graph.upstream_nodes]
    torch.testing.assert_close(node.node_scores[upstream], expected[upstream], atol=1e-10, rtol=1e-8)
    assert torch.isnan(node.node_scores[graph.node_index("logits")])
    assert neuron.neuron_scores.shape == (graph.n_upstream, graph.cfg.d_model)
    torch.testing.assert_close(neuron.neuron_scores.sum(-1), expected[upstream], atol=1e-10, rtol=1e-8)
    # edges carry their parent node's score at node level
    torch.testing.assert_close(node.edge_scores, node.node_scores[graph.edge_parent])


def test_neuron_level_eap_equals_exact_neuron_patching_on_linear_nodes():
    model = toy_model(n_layers=1, n_heads=2, attn_only=True, normalization_type=None)
    task = toy_task(model)
    graph = task.graph()
    eap = run_method("eap", task, MethodConfig(level="neuron", metric="logit_diff", progress=False))
    exact = run_method("exact", task, MethodConfig(level="neuron", metric="logit_diff", progress=False))
    heads = [n.upstream_index for n in graph.upstream_nodes if n.is_head]  # heads only feed the logits
    assert exact.neuron_scores[heads].abs().max() > 1e-3
    torch.testing.assert_close(eap.neuron_scores[heads], exact.neuron_scores[heads], atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("method", ["eap", "eap-ig-inputs", "eap-ig-activations"])
def test_example_chunking_does_not_change_scores(method):
    model = toy_model()
    task = toy_task(model, batch=5)
    base = dict(metric="logit_diff", ig_steps=3, progress=False)
    whole = run_method(method, task, MethodConfig(**base)).edge_scores
    chunked = run_method(method, task, MethodConfig(batch_size=2, extra={"examples_per_batch": 2}, **base)).edge_scores
    assert whole.abs().max() > 1e-3
    torch.testing.assert_close(whole, chunked, atol=1e-10, rtol=1e-8)


def test_bad_metric_and_ablation_are_refused():
    task = toy_task(toy_model())
    with pytest.raises(ValueError, match="not differentiable"):
        run_method("eap", task, MethodConfig(metric="accuracy", progress=False))
    with pytest.raises(ValueError, match="numerical"):
        run_method("eap", task, MethodConfig(metric="output_diff", progress=False))
    with pytest.raises(ValueError, match="supports ablations"):
        run_method("eap-ig-inputs", task, MethodConfig(ablation="optimal", progress=False))


def test_resolved_source_is_reused_by_rows():
    """Mean / zero sources broadcast over examples; corrupted sources are sliced per chunk."""
    from circuits_benchmark.methods.eap import source_rows

    task = toy_task(toy_model(), batch=4)
    graph = task.graph()
    corrupted = resolve_source(task.model, graph, task.source("patching"), tuple(task.clean_tokens.shape))
    assert source_rows(corrupted, slice(1, 3), 4).shape[0] == 2
    zero = resolve_source(task.model, graph, task.source("zero"))
    assert source_rows(zero, slice(1, 3), 4).shape[0] == 1
