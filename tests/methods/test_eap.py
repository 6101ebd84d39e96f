"""EAP / EAP-IG: exactness where the metric is linear, MIB's EAP-IG-activations worked out by hand, completeness of
integrated gradients over masks, EAP-IG-inputs unchanged by dropping its recording pass, levels."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.graph import collect_node_outputs, patched_forward, prepare_model, resolve_source
from circuits_benchmark.methods import MethodConfig, get_method, method_names, run_method
from circuits_benchmark.methods import eap as eap_module
from circuits_benchmark.methods.eap import mask_gradients, scoring_metric
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
    for method in ("eap-ig-activations", "eap-ig-masks"):
        ig = run_method(method, task, MethodConfig(metric="kl", ig_steps=4, progress=False)).edge_scores
        assert ig.abs().max() > 1e-4


# ---------------------------------------------------------------------------- integrated gradients
def completeness_errors(task: PatchingTask, method: str, steps_list: list[int], metric: str, ablation: str) -> list[float]:
    """|sum of scores - total effect| for each number of steps (EAP for steps = 0).

    eap-ig-masks: scores over all edges vs orientation * (m(empty) - m(clean));
    eap-ig-inputs: scores of the input node's edges vs orientation * (m(input edges patched) - m(clean)).
    """
    graph = task.graph()
    m = scoring_metric(task, metric)
    clean = metric_under_mask(task, graph.full_edge_mask(), metric, ablation)
    if method == "eap-ig-masks":
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


@pytest.mark.parametrize("method,ablation", [("eap-ig-masks", "patching"), ("eap-ig-masks", "mean"),
                                             ("eap-ig-masks", "zero"), ("eap-ig-inputs", "patching"),
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


# ---------------------------------------------------------------------------- MIB's EAP-IG-activations
def metric_gradient_at_resid_post(task: PatchingTask, metric: str) -> torch.Tensor:
    """``c [batch, pos, d_model]``: d metric / d final residual, constant for a metric linear in the logits and no final LN."""
    logits = task.clean_logits.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(scoring_metric(task, metric)(logits), logits)
    return grad @ task.model.W_U.T


@pytest.mark.parametrize("ablation", ["patching", "mean", "zero"])
def test_eap_ig_activations_follows_mib_on_a_model_worked_out_by_hand(ablation):
    """1 layer, no LayerNorm, attention switched off (W_O = 0), a ReLU MLP and logit_diff (linear in the logits).

    Groups: input, a0 (both heads), m0, so 3 groups x m steps. With x = the input node's output, S the source,
    c the metric's gradient at the final residual and ``G(alpha) = W_in (relu'(pre(alpha)) * W_out c)`` the
    gradient at the MLP input when the input is ``alpha * x_clean + (1 - alpha) * S_input``:

    * edges into logits see the same gradient ``c`` in every run: score = o * (S_u - clean_u) . c;
    * input->m0: the input runs give G(k/m), k = 1..m; the a0 runs leave everything clean (heads output 0):
      G(1); the m0 runs replace m0's output by a constant, so no gradient reaches its input: 0. Score =
      o / (3m) * (sum_k D . G(k/m) + m * D . G(1));
    * every other edge scores 0 (heads output nothing and feed nothing).
    """
    model = toy_model(n_layers=1, n_heads=2, d_model=12, d_head=6, d_mlp=16, act_fn="relu", normalization_type=None)
    with torch.no_grad():
        model.blocks[0].attn.W_O.zero_()
    task = toy_task(model, seed=5)
    graph = task.graph()
    steps, metric = 3, "logit_diff"
    o = scoring_metric(task, metric).orientation
    scores = run_method("eap-ig-activations", task, MethodConfig(metric=metric, ablation=ablation, ig_steps=steps,
                                                                 progress=False)).edge_scores
    # by hand
    source = resolve_source(model, graph, task.source(ablation), tuple(task.clean_tokens.shape))
    pos_embed = model.W_pos[: task.clean_tokens.shape[1]]
    x_clean = model.W_E[task.clean_tokens] + pos_embed
    s_input = source[..., graph.node("input").upstream_index, :].expand_as(x_clean)
    mlp = model.blocks[0].mlp
    b_o = model.blocks[0].attn.b_O

    def pre(x):
        return (x + b_o) @ mlp.W_in + mlp.b_in

    def mlp_out(x):
        return torch.relu(pre(x)) @ mlp.W_out + mlp.b_out

    c = metric_gradient_at_resid_post(task, metric)
    s_m0 = source[..., graph.node("m0").upstream_index, :].expand_as(x_clean)
    d_input, d_m0 = s_input - x_clean, s_m0 - mlp_out(x_clean)

    def grad_at_mlp_input(alpha):
        x = alpha * x_clean + (1 - alpha) * s_input
        return ((pre(x) > 0).to(x.dtype) * (c @ mlp.W_out.T)) @ mlp.W_in.T

    def input_to_m0(ks):
        return o / (3 * steps) * (sum(float((d_input * grad_at_mlp_input(k / steps)).sum()) for k in ks)
                                  + steps * float((d_input * grad_at_mlp_input(1.0)).sum()))

    with torch.no_grad():
        expected = torch.zeros(graph.n_edges, dtype=torch.float64)
        expected[graph.edge_index("input->logits")] = o * float((d_input * c).sum())
        expected[graph.edge_index("m0->logits")] = o * float((d_m0 * c).sum())
        expected[graph.edge_index("input->m0")] = input_to_m0(range(1, steps + 1))
        other_points = input_to_m0(range(0, steps))  # EAP-IG-inputs' points k = 0..m-1 instead
    assert expected.abs().min() < 1e-12 and expected[graph.edge_index("input->m0")].abs() > 1e-3
    assert abs(other_points - float(expected[graph.edge_index("input->m0")])) > 1e-3  # the points matter here
    torch.testing.assert_close(scores, expected, atol=1e-10, rtol=1e-8)


def test_eap_ig_activations_averages_over_groups_with_the_replaced_group_cut():
    """A model linear in every node output and input (1 layer, attention only, no LN, W_Q = W_K = 0 so attention
    is uniform) and logit_diff: every gradient is the clean one, so the interpolation points do not matter.
    MIB's algorithm averages over 2 groups (input, a0): edges into logits get EAP's score in both runs, but a
    head's v input gets no gradient when the head's own group is replaced, so input->head<v> scores half of
    EAP's. (eap-ig-masks differs from EAP here: in mask space the head->logits contribution is the product of
    two masks, so it is not linear.)"""
    model = toy_model(n_layers=1, n_heads=2, d_model=12, d_head=6, attn_only=True, normalization_type=None)
    with torch.no_grad():
        for p in (model.blocks[0].attn.W_Q, model.blocks[0].attn.W_K, model.blocks[0].attn.b_Q, model.blocks[0].attn.b_K):
            p.zero_()
    task = toy_task(model)
    graph = task.graph()
    cfg = dict(metric="logit_diff", progress=False)
    eap = run_method("eap", task, MethodConfig(**cfg)).edge_scores
    mib = run_method("eap-ig-activations", task, MethodConfig(ig_steps=3, **cfg)).edge_scores
    mib_1 = run_method("eap-ig-activations", task, MethodConfig(ig_steps=1, **cfg)).edge_scores
    into_logits = graph.edges_into("logits")
    v_edges = torch.tensor([e.index for e in graph.edges if e.qkv == "v"])
    qk_edges = torch.tensor([e.index for e in graph.edges if e.qkv in ("q", "k")])
    assert eap[v_edges].abs().min() > 1e-4 and eap[into_logits].abs().max() > 1e-3
    torch.testing.assert_close(mib[into_logits], eap[into_logits], atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(mib[v_edges], eap[v_edges] / 2, atol=1e-10, rtol=1e-8)
    assert mib[qk_edges].abs().max() < 1e-12
    torch.testing.assert_close(mib, mib_1, atol=1e-10, rtol=1e-8)


# ---------------------------------------------------------------------------- EAP-IG-inputs: one pass per step
def eap_ig_inputs_with_recording_pass(task: PatchingTask, steps: int, metric: str, ablation: str) -> tuple:
    """The former EAP-IG-inputs: per step, a patched forward recording every node's output, then the mask
    gradient with source = recorded + (source - clean), so that the engine's difference is the fixed one."""
    model, graph = task.model, task.graph()
    m = scoring_metric(task, metric, gradient=True)
    source = resolve_source(model, graph, task.source(ablation), tuple(task.clean_tokens.shape)).expand(
        *task.clean_tokens.shape, graph.n_upstream, graph.cfg.d_model)
    difference = source - collect_node_outputs(model, graph, task.clean_tokens)
    rows = slice(0, task.clean_tokens.shape[0])
    # heads read at hook_z and projected by W_O (the engine runs without TransformerLens's per-head results)
    hooks = sorted({n.output_hook.replace("hook_result", "hook_z") for n in graph.upstream_nodes},
                   key=lambda h: [n.output_hook.replace("hook_result", "hook_z") for n in graph.upstream_nodes].index(h))

    def node_rows(hook: str, act: torch.Tensor) -> torch.Tensor:
        if hook.endswith("hook_z"):
            return torch.einsum("bphd,hdm->bphm", act, model.blocks[int(hook.split(".")[1])].attn.W_O)
        return act if act.ndim == 4 else act.unsqueeze(-2)
    edge_total = torch.zeros(graph.n_edges, dtype=torch.float64)
    neuron_total = torch.zeros(graph.n_upstream, graph.cfg.d_model, dtype=torch.float64)
    for k in range(steps):
        alpha = k / steps
        edge_mask = torch.ones(1, graph.n_edges, dtype=torch.float64)
        edge_mask[:, graph.edges_out_of("input")] = alpha
        neuron_mask = torch.ones(1, graph.n_upstream, graph.cfg.d_model, dtype=torch.float64)
        neuron_mask[:, graph.node("input").upstream_index] = alpha
        seen = {}
        with torch.no_grad(), model.hooks(fwd_hooks=[(h, lambda a, hook: seen.__setitem__(hook.name, a)) for h in hooks]):
            patched_forward(model, graph, task.clean_tokens, edge_mask, source)
        acts = torch.cat([node_rows(h, seen[h]) for h in hooks], dim=-2)
        g_edge, _ = mask_gradients(task, graph, m, rows, acts + difference, edge_mask)
        _, g_neuron = mask_gradients(task, graph, m, rows, acts + difference, torch.ones_like(edge_mask), neuron_mask)
        edge_total += g_edge
        neuron_total += g_neuron
    sign = -m.orientation / steps
    return sign * edge_total, sign * neuron_total


@pytest.mark.parametrize("ablation", ["patching", "mean"])
def test_eap_ig_inputs_scores_unchanged_without_the_recording_pass(ablation):
    model = toy_model()
    task = toy_task(model)
    old_edge, old_neuron = eap_ig_inputs_with_recording_pass(task, 4, "logit_diff", ablation)
    cfg = dict(metric="logit_diff", ablation=ablation, ig_steps=4, progress=False)
    edge = run_method("eap-ig-inputs", task, MethodConfig(**cfg)).edge_scores
    one_step_per_forward = run_method("eap-ig-inputs", task, MethodConfig(batch_size=1, **cfg)).edge_scores
    neuron = run_method("eap-ig-inputs", task, MethodConfig(level="neuron", **cfg)).neuron_scores
    assert old_edge.abs().max() > 1e-3
    torch.testing.assert_close(edge, old_edge, atol=1e-6, rtol=0)
    torch.testing.assert_close(one_step_per_forward, old_edge, atol=1e-6, rtol=0)
    torch.testing.assert_close(neuron, old_neuron, atol=1e-6, rtol=0)


def test_eap_method_names_resolve():
    names = method_names()
    for name, fn in [("eap", eap_module.eap), ("eap-ig-inputs", eap_module.eap_ig_inputs),
                     ("eap-ig-activations", eap_module.eap_ig_activations), ("eap-ig-masks", eap_module.eap_ig_masks)]:
        assert name in names
        spec = get_method(name)
        assert spec.fn is fn and spec.levels == ("edge", "node", "neuron")
        assert set(spec.ablations) == {"patching", "mean", "zero"}
    assert "MIB" in get_method("eap-ig-activations").description
    assert "edge masks" in get_method("eap-ig-masks").description


# ---------------------------------------------------------------------------- levels and batching
@pytest.mark.parametrize("method", ["eap", "eap-ig-inputs", "eap-ig-activations", "eap-ig-masks"])
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


@pytest.mark.parametrize("method", ["eap", "eap-ig-inputs", "eap-ig-activations", "eap-ig-masks"])
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
