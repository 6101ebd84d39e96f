"""The vectorised patching engine against naive one-edge-at-a-time TransformerLens hooks."""

from __future__ import annotations

import pytest
import torch

from circuits_benchmark.graph import (
    Circuit,
    PatchSource,
    evaluate_edge_masks,
    nodes_removed_mask,
    patched_forward,
    resolve_source,
    single_edge_ablation_masks,
)
from circuits_benchmark.graph.naive import (
    naive_edge_patched_forward,
    naive_node_outputs,
    naive_node_patched_forward,
    naive_single_edge_effects,
)

TOL = 1e-5


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_all_ones_is_clean_and_all_zeros_is_corrupted(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    source = PatchSource.corrupted(corrupted)
    with torch.no_grad():
        assert max_diff(patched_forward(model, graph, clean, graph.full_edge_mask(1.0), source), model(clean)) < TOL
        assert max_diff(patched_forward(model, graph, clean, graph.full_edge_mask(0.0), source), model(corrupted)) < TOL


def test_every_single_edge_matches_naive(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    masks = single_edge_ablation_masks(graph, torch.arange(graph.n_edges), dtype=torch.float64)
    with torch.no_grad():
        clean_logits = model(clean)
        batched = torch.cat([patched_forward(model, graph, clean, masks[i:i + 64], acts)
                             for i in range(0, graph.n_edges, 64)])
        n_changed = 0
        for e in range(graph.n_edges):
            naive = naive_edge_patched_forward(model, graph, clean, [e], acts)
            assert max_diff(batched[e], naive) < TOL, graph.edge_name(e)
            n_changed += max_diff(naive, clean_logits) > 1e-3
    assert n_changed > graph.n_edges // 2  # the test is not vacuous


@pytest.mark.parametrize("kind", ["corrupted", "mean", "zero", "learned"])
def test_random_subsets_match_naive(model_and_graph, tokens, kind):
    model, graph = model_and_graph
    clean, corrupted = tokens
    gen = torch.Generator().manual_seed(2)
    if kind == "corrupted":
        source = PatchSource.corrupted(corrupted)
    elif kind == "mean":
        source = PatchSource.mean(torch.randint(0, 13, (7, clean.shape[1]), generator=gen))
    elif kind == "zero":
        source = PatchSource.zero()
    else:
        source = PatchSource.learned(torch.randn(graph.n_upstream, graph.cfg.d_model, generator=gen, dtype=torch.float64))
    acts = resolve_source(model, graph, source, tuple(clean.shape))
    masks = (torch.rand(4, graph.n_edges, generator=gen) > 0.4).double()
    with torch.no_grad():
        engine = patched_forward(model, graph, clean, masks, source)
        for i in range(masks.shape[0]):
            removed = torch.nonzero(masks[i] == 0).flatten().tolist()
            naive = naive_edge_patched_forward(model, graph, clean, removed, acts)
            assert max_diff(engine[i], naive) < TOL
            single = patched_forward(model, graph, clean, masks[i], acts)
            assert max_diff(engine[i], single) < TOL


def test_mean_source_is_dataset_mean(model_and_graph):
    model, graph = model_and_graph
    data = torch.randint(0, 13, (6, 4), generator=torch.Generator().manual_seed(3))
    outputs = naive_node_outputs(model, graph, data)
    acts = resolve_source(model, graph, PatchSource.mean(data, batch_size=4), (2, 4))
    for node in graph.upstream_nodes:
        assert max_diff(acts[0, :, node.upstream_index], outputs[node.name].mean(0)) < 1e-10
    flat = resolve_source(model, graph, PatchSource.mean(data, per_position=False))
    assert max_diff(flat[0, 0, 0], outputs["input"].mean((0, 1))) < 1e-10


def test_node_masks_match_naive_output_overwrite(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    gen = torch.Generator().manual_seed(4)
    names = [n.name for n in graph.upstream_nodes]
    with torch.no_grad():
        for _ in range(4):
            removed = [n for n in names if torch.rand(1, generator=gen).item() < 0.4]
            engine = patched_forward(model, graph, clean, nodes_removed_mask(graph, removed, torch.float64), acts)
            naive = naive_node_patched_forward(model, graph, clean, removed, acts)
            assert max_diff(engine, naive) < TOL
        for name in names:  # every single node
            engine = patched_forward(model, graph, clean, nodes_removed_mask(graph, [name], torch.float64), acts)
            naive = naive_node_patched_forward(model, graph, clean, [name], acts)
            assert max_diff(engine, naive) < TOL, name


def test_circuit_mask_roundtrip_through_engine(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    scores = torch.randn(graph.n_edges, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    circuit = Circuit.from_scores(graph, scores).top_n(graph.n_edges // 3)
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    with torch.no_grad():
        engine = patched_forward(model, graph, clean, circuit.to_edge_mask(torch.float64), acts)
        removed = torch.nonzero(~circuit.edge_in_graph).flatten().tolist()
        assert max_diff(engine, naive_edge_patched_forward(model, graph, clean, removed, acts)) < TOL


def test_mask_gradient_is_eap_score(model_and_graph, tokens):
    """d metric / d mask_e at mask = 1 equals -(source_u - clean_u) . d metric / d input_v."""
    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return logits[..., -1, 3].sum() - logits[..., -1, 5].sum()

    mask = graph.full_edge_mask(1.0, dtype=torch.float64).requires_grad_(True)
    metric(patched_forward(model, graph, clean, mask, acts)).backward()

    inputs: dict[str, torch.Tensor] = {}

    def keep(act, hook):
        act.retain_grad()
        inputs[hook.name] = act
        return act

    hook_names = {d.hook_name for d in graph.downstream_inputs}
    metric(model.run_with_hooks(clean, fwd_hooks=[(h, keep) for h in hook_names])).backward()
    clean_acts = resolve_source(model, graph, PatchSource.corrupted(clean))
    expected = torch.empty(graph.n_edges, dtype=torch.float64)
    for e in graph.edges:
        grad = inputs[graph.downstream_inputs[e.downstream_index].hook_name].grad
        if e.child.head is not None:
            grad = grad[:, :, e.child.head]
        delta = acts[:, :, e.upstream_index] - clean_acts[:, :, e.upstream_index]
        expected[e.index] = -(delta * grad).sum()
    assert max_diff(mask.grad, expected) < 1e-8


def test_neuron_mask(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    clean_acts = resolve_source(model, graph, PatchSource.corrupted(clean))
    d = graph.cfg.d_model
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        # all-ones neuron mask changes nothing
        masks = (torch.rand(2, graph.n_edges, generator=gen) > 0.5).double()
        plain = patched_forward(model, graph, clean, masks, acts)
        ones = patched_forward(model, graph, clean, masks, acts, neuron_mask=graph.full_neuron_mask(1.0, torch.float64))
        assert max_diff(plain, ones) < TOL
        # switching off some neurons of one node, all edges kept == overwriting those dimensions
        for node in (graph.upstream_nodes[0], graph.upstream_nodes[1], graph.upstream_nodes[-1]):
            keep = (torch.rand(d, generator=gen) > 0.5).double()
            neuron_mask = graph.full_neuron_mask(1.0, torch.float64)
            neuron_mask[node.upstream_index] = keep
            engine = patched_forward(model, graph, clean, graph.full_edge_mask(1.0, torch.float64), acts,
                                     neuron_mask=neuron_mask)
            row = node.upstream_index
            mixed = {node.name: clean_acts[:, :, row] * keep + acts[:, :, row] * (1 - keep)}
            naive = naive_node_patched_forward(model, graph, clean, [node.name], mixed)
            assert max_diff(engine, naive) < TOL, node.name


def test_evaluate_edge_masks_matches_naive_single_edge_effects(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    edges = torch.arange(0, graph.n_edges, 7)

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return logits[..., -1, :].logsumexp(-1).mean(-1)

    fast = evaluate_edge_masks(model, graph, clean, single_edge_ablation_masks(graph, edges, torch.float64),
                               acts, metric, circuits_per_batch=8, progress=False)
    slow = naive_single_edge_effects(model, graph, clean, acts, metric, edges.tolist())
    assert max_diff(fast, slow) < TOL


def test_attention_mask_padding(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    attention_mask = torch.ones_like(clean)
    attention_mask[0, -2:] = 0
    source = PatchSource.corrupted(corrupted, attention_mask)
    acts = resolve_source(model, graph, source)
    masks = (torch.rand(2, graph.n_edges, generator=torch.Generator().manual_seed(7)) > 0.5).double()
    with torch.no_grad():
        engine = patched_forward(model, graph, clean, masks, acts, attention_mask=attention_mask)
        for i in range(2):
            removed = torch.nonzero(masks[i] == 0).flatten().tolist()
            naive = naive_edge_patched_forward(model, graph, clean, removed, acts, attention_mask=attention_mask)
            assert max_diff(engine[i], naive) < TOL


def test_float32_mask_on_float64_model_and_errors(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    with torch.no_grad():
        out = patched_forward(model, graph, clean, graph.full_edge_mask(0.0), PatchSource.corrupted(corrupted))
    assert out.dtype == torch.float64
    with pytest.raises(ValueError, match="edge mask"):
        patched_forward(model, graph, clean, torch.ones(3), PatchSource.zero())
    with pytest.raises(ValueError, match="do not match"):
        patched_forward(model, graph, clean, graph.full_edge_mask(), PatchSource.corrupted(corrupted[:1]))


def test_learned_source_and_mask_gradients_flow(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, _ = tokens
    values = torch.zeros(graph.n_upstream, graph.cfg.d_model, dtype=torch.float64, requires_grad=True)
    mask = torch.full((2, graph.n_edges), 0.5, dtype=torch.float64, requires_grad=True)
    logits = patched_forward(model, graph, clean, mask, PatchSource.learned(values))
    logits[..., -1, 0].sum().backward()
    assert values.grad is not None and values.grad.abs().sum() > 0
    assert mask.grad.shape == (2, graph.n_edges) and mask.grad.abs().sum() > 0
    named = {n.name: values[n.upstream_index] for n in graph.upstream_nodes}
    with torch.no_grad():
        a = patched_forward(model, graph, clean, mask, PatchSource.learned(named))
        b = patched_forward(model, graph, clean, mask, PatchSource.learned(values))
    assert max_diff(a, b) == 0
    with pytest.raises(KeyError, match="missing"):
        patched_forward(model, graph, clean, mask, PatchSource.learned({"input": values[0]}))


def test_soft_mask_and_source_gradients_match_finite_differences(model_and_graph, tokens):
    """Dense runs route gradients through the delta buffer by hand (``_BufferedProduct``): check them,
    for masks strictly between 0 and 1 (so patched deltas feed later patches) and a learned source,
    against central finite differences; with neuron masks (the stacked path) they must agree too."""
    model, graph = model_and_graph
    clean, corrupted = tokens
    gen = torch.Generator().manual_seed(11)
    values = resolve_source(model, graph, PatchSource.corrupted(corrupted)).mean((0, 1)).clone()
    values.requires_grad_(True)
    mask = (0.2 + 0.6 * torch.rand(2, graph.n_edges, generator=gen, dtype=torch.float64)).requires_grad_(True)
    probe = torch.randn(model.cfg.d_vocab, generator=gen, dtype=torch.float64)

    def metric(m, v, neuron_mask=None):
        logits = patched_forward(model, graph, clean[:2], m, PatchSource.learned(v), neuron_mask=neuron_mask)
        return (logits[..., -1, :] * probe).sum()

    assert torch.autograd.gradcheck(metric, (mask, values), eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)
    metric(mask, values).backward()
    grads = mask.grad.clone(), values.grad.clone()
    mask.grad, values.grad = None, None
    metric(mask, values, graph.full_neuron_mask(1.0, torch.float64)).backward()
    torch.testing.assert_close(mask.grad, grads[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(values.grad, grads[1], rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------- passes from the cached clean run
def _masks_by_first_layer(graph, gen: torch.Generator) -> list[torch.Tensor]:
    """Masks patching only edges into layer L or later (L = 0 .. n_layers), a few edges each."""
    layers = graph.downstream_layer[graph.edge_downstream]
    out = []
    for first in range(graph.cfg.n_layers + 1):
        allowed = torch.nonzero(layers >= first).flatten()
        for n_removed in (1, 3, len(allowed)):
            mask = graph.full_edge_mask()
            mask[allowed[torch.randperm(len(allowed), generator=gen)[:n_removed]]] = 0.0
            out.append(mask)
    return out


def test_clean_run_passes_equal_full_passes(model_and_graph, tokens):
    from circuits_benchmark.graph.patching import CleanRun, pass_start_layer

    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    cached = CleanRun.of(model, graph, clean)
    masks = torch.stack(_masks_by_first_layer(graph, torch.Generator().manual_seed(0)))
    starts = set()
    with torch.no_grad():
        for mask in masks:
            starts.add(pass_start_layer(graph, mask))
            full = patched_forward(model, graph, clean, mask, acts)
            assert max_diff(full, model(clean)) > 1e-4  # every mask changes the output
            assert max_diff(patched_forward(model, graph, clean, mask, acts, clean=cached), full) < TOL
        batched = patched_forward(model, graph, clean, masks, acts, clean=cached)
        assert max_diff(batched, patched_forward(model, graph, clean, masks, acts)) < TOL
    assert starts == set(range(graph.cfg.n_layers))  # logits-only masks run the last block
    # the model's TransformerLens flags are as prepared after lean passes
    assert model.cfg.use_split_qkv_input and model.cfg.use_attn_result


def test_clean_run_of_other_tokens_is_refused(model_and_graph, tokens):
    from circuits_benchmark.graph.patching import CleanRun

    model, graph = model_and_graph
    clean, corrupted = tokens
    with pytest.raises(ValueError, match="other tokens"):
        patched_forward(model, graph, clean, graph.full_edge_mask(0.0), PatchSource.corrupted(corrupted),
                        clean=CleanRun.of(model, graph, corrupted))


def test_evaluate_edge_masks_keeps_the_callers_order(model_and_graph, tokens):
    model, graph = model_and_graph
    clean, corrupted = tokens
    masks = torch.stack(_masks_by_first_layer(graph, torch.Generator().manual_seed(1)))
    masks = masks[torch.randperm(len(masks), generator=torch.Generator().manual_seed(2))]
    metric = lambda logits: logits[..., -1, :].log_softmax(-1)[..., 0].mean(-1)  # noqa: E731
    source = PatchSource.corrupted(corrupted)
    values = evaluate_edge_masks(model, graph, clean, masks, source, metric, circuits_per_batch=3, progress=False)
    with torch.no_grad():
        expected = torch.stack([metric(patched_forward(model, graph, clean, m, source)) for m in masks])
    assert max_diff(values, expected) < TOL


def test_clean_run_passes_carry_gradients_to_a_learned_source(model_and_graph, tokens):
    """Optimal ablation learns its source through passes that start late: same logits and gradients."""
    from circuits_benchmark.graph.patching import CleanRun, pass_start_layer

    model, graph = model_and_graph
    clean, _ = tokens
    cached = CleanRun.of(model, graph, clean)
    masks = torch.stack(_masks_by_first_layer(graph, torch.Generator().manual_seed(3)))
    masks = masks[[pass_start_layer(graph, m) == 1 for m in masks]]
    assert len(masks) and pass_start_layer(graph, masks) == 1
    grads, logits = [], []
    for run in (None, cached):
        values = torch.randn(graph.n_upstream, graph.cfg.d_model, dtype=torch.float64,
                             generator=torch.Generator().manual_seed(4)).requires_grad_(True)
        out = patched_forward(model, graph, clean, masks, PatchSource.learned(values), clean=run)
        out[..., -1, :].log_softmax(-1)[..., 0].sum().backward()
        grads.append(values.grad)
        logits.append(out.detach())
    assert grads[0].abs().max() > 1e-3
    assert max_diff(logits[0], logits[1]) < TOL and max_diff(grads[0], grads[1]) < TOL


def test_start_layer_chunks_cover_every_mask_once(model_and_graph):
    from circuits_benchmark.graph.patching import _first_patched_layer, start_layer_chunks

    _, graph = model_and_graph
    masks = torch.stack(_masks_by_first_layer(graph, torch.Generator().manual_seed(5)))
    first = _first_patched_layer(graph, masks)
    for one_layer in (False, True):
        chunks = start_layer_chunks(graph, masks, 2, one_layer)
        assert sorted(torch.cat(chunks).tolist()) == list(range(len(masks)))
        assert all(len(c) <= 2 for c in chunks)
        starts = [int(first[c].min()) for c in chunks]
        assert starts == sorted(starts)
        if one_layer:
            assert all(len(set(first[c].tolist())) == 1 for c in chunks)


def test_passes_run_without_per_head_results(model_and_graph, tokens):
    """Heads are read at hook_z: TransformerLens's per-head result tensor is never built in a pass."""
    from circuits_benchmark.graph.patching import temporary_hooks

    model, graph = model_and_graph
    clean, corrupted = tokens
    fired = []
    with temporary_hooks(model, [("blocks.0.attn.hook_result", lambda act, hook: fired.append(hook))]):
        patched_forward(model, graph, clean, graph.full_edge_mask(0.5), PatchSource.corrupted(corrupted))
        assert not fired
        model(clean)  # the prepared model itself still computes them
        assert fired
    assert model.cfg.use_attn_result


def test_remembered_plans_give_what_fresh_plans_give(model_and_graph, tokens, monkeypatch):
    """Sparse plans are remembered per hook slice of the masks: a chain of masks that differ in one
    edge each (as ACDC's passes do), soft values included, equals naive patching whether its plans
    are built, found, or evicted from a tiny cache and built again."""
    from circuits_benchmark.graph import patching

    model, graph = model_and_graph
    clean, corrupted = tokens
    acts = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    gen = torch.Generator().manual_seed(11)
    chain, mask = [], graph.full_edge_mask(1.0).double()
    for e in torch.randperm(graph.n_edges, generator=gen)[:12].tolist():
        mask = mask.clone()
        mask[e] = 0.5 if e % 3 == 0 else 0.0
        chain.append(mask)
    chain.append(torch.where(mask < 1, 0.0, 1.0).double())  # the last pattern again, with other values
    patching._hook_table(graph).plans.clear()
    with torch.no_grad():
        built = [patched_forward(model, graph, clean, m, acts) for m in chain]  # builds (and finds)
        assert len(patching._hook_table(graph).plans) > 0
        for m, expected in zip(chain, built):
            removed = torch.nonzero(m == 0).flatten().tolist()
            if len(removed) == int((m < 1).sum()):  # only 0/1 masks have a naive reference
                assert max_diff(expected, naive_edge_patched_forward(model, graph, clean, removed, acts)) < TOL
        found = [patched_forward(model, graph, clean, m, acts) for m in chain]
        cache = patching._hook_table(graph).plans
        largest = max(cache._size(key, plan) for key, plan in cache.entries.items())
        n_plans = len(cache)
        monkeypatch.setattr(patching, "PLAN_CACHE_BYTES", 2 * largest)
        cache.clear()
        evicted = [patched_forward(model, graph, clean, m, acts) for m in reversed(chain)][::-1]
    assert 0 < cache.nbytes <= 2 * largest and 0 < len(cache) < n_plans  # plans were evicted
    assert cache.nbytes == sum(cache._size(key, plan) for key, plan in cache.entries.items())
    for a, b, c in zip(built, found, evicted):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert max_diff(built[0], built[-2]) > 1e-4 and max_diff(built[-2], built[-1]) > 1e-4  # every step counts
