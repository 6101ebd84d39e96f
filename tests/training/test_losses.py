"""Each loss and metric has the property it claims, on the compiled Tracr model and on random LL models."""

import copy

import pytest
import torch

from circuits_benchmark.tracr_compat.alignment import Component
from circuits_benchmark.training import ModelPair, TrainConfig, build_pair, run_patched
from circuits_benchmark.training.trainer import make_data


def _pair(compiled, ll=None, **kw):
    ll = ll if ll is not None else copy.deepcopy(compiled.model)
    return build_pair(compiled, TrainConfig(**kw), torch.device("cpu"), ll)


def _random_pair(compiled):
    return build_pair(compiled, TrainConfig(seed=1), torch.device("cpu"))


@pytest.fixture(scope="module")
def data3(case3):
    return make_data(case3, 256, seed=5)


@pytest.fixture(scope="module")
def data1(case1):
    return make_data(case1, 256, seed=5)


def test_correspondence_of_case3(case3):
    pair = _pair(case3)
    assert {n.label: n.components for n in pair.corr.hl_nodes} == {
        "is_x_3": (Component("mlp", 0),),
        "frac_prevs_1": (Component("head", 1, 0),),
    }
    assert pair.corr.non_circuit_components == [Component("head", 0, 0), Component("mlp", 1)]


def test_patching_with_the_base_itself_changes_nothing(case3, data3):
    base, _ = data3
    model = case3.model
    mask = case3.encoding.attention_mask(base)
    every = _pair(case3).corr.all_components
    out = run_patched(model, base, base, every, mask, mask)
    assert torch.allclose(out, model(base, attention_mask=mask), atol=1e-5)


def test_patching_a_node_moves_output_toward_the_source(case3, data3):
    base, source = data3
    pair = _pair(case3)
    # frac_x writes the output: patching it makes the HL output the source's
    hl_patched = pair.hl_intervened(base, source, pair.corr.node("frac_prevs_1"))
    pos = pair.positions(base) & pair.positions(source)
    assert torch.allclose(hl_patched[..., 0][pos], pair.hl_output(source)[..., 0][pos], atol=1e-4)


def test_iit_loss_is_zero_for_the_hl_model_itself_and_positive_for_a_random_model(case3, data3):
    base, source = data3
    same = _pair(case3)
    for node in same.corr.hl_nodes:
        assert same.iit_loss(base, source, node).item() == pytest.approx(0.0, abs=1e-8)
    rand = _random_pair(case3)
    for node in rand.corr.hl_nodes:
        assert rand.iit_loss(base, source, node).item() > 1e-3


@pytest.mark.parametrize("sampling", ["one", "all", "random-subset"])
def test_strict_loss_is_zero_when_non_circuit_nodes_are_unused(case3, data3, sampling):
    base, source = data3
    pair = _pair(case3, strict_sampling=sampling)
    for _ in range(3):
        assert pair.strict_loss(base, source).item() == pytest.approx(0.0, abs=1e-8)
    assert pair.strict_loss(base, source, pair.corr.non_circuit_components).item() == pytest.approx(0.0, abs=1e-8)


def test_strict_loss_penalises_ablating_a_node_that_matters(case3, data3):
    base, source = data3
    pair = _pair(case3)
    assert pair.strict_loss(base, source, [Component("head", 1, 0)]).item() > 1e-3


def test_strict_sampling_modes(case3):
    pair = _pair(case3, strict_sampling="one")
    assert all([len(g) for g in pair.sample_strict_groups()] == [1] for _ in range(5))
    pair = _pair(case3, strict_sampling="all")
    assert pair.sample_strict_groups() == [pair.corr.non_circuit_components]
    pair = _pair(case3, strict_sampling="one+all")
    one, everything = pair.sample_strict_groups()
    assert len(one) == 1 and one[0] in everything and everything == pair.corr.non_circuit_components
    pair = _pair(case3, strict_sampling="random-subset")
    n_outside = len(pair.corr.non_circuit_components)
    sizes = {len(pair.sample_strict_groups()[0]) for _ in range(40)}
    assert sizes <= set(range(n_outside + 1)) and len(sizes) > 1
    with pytest.raises(ValueError):
        TrainConfig(strict_sampling="bogus")


@pytest.mark.parametrize("source_grads", [False, True])
def test_strict_source_grads_reach_the_ablated_node(case3, data3, source_grads):
    # the last MLP is outside case 3's circuit: ablated from the source run, its weights get a gradient
    # from the strict loss only when the source run is differentiable
    base, source = data3
    pair = build_pair(case3, TrainConfig(seed=1, strict_source_grads=source_grads), torch.device("cpu"))
    last = pair.ll_model.cfg.n_layers - 1
    mlp = Component("mlp", last)
    assert mlp in pair.corr.non_circuit_components
    pair.strict_loss(base, source, [mlp]).backward()
    grad = pair.ll_model.blocks[last].mlp.W_in.grad
    reached = grad is not None and grad.abs().sum() > 0
    assert reached == source_grads
    assert pair.ll_model.embed.W_E.grad.abs().sum() > 0  # the base run is differentiable either way


@pytest.mark.parametrize("source_grads", [False, True])
def test_iit_source_grads_reach_the_intervened_node(case3, data3, source_grads):
    # case 3's is_x node is the first MLP: replaced by its source-run value, its weights get a gradient
    # from the IIT loss only when that run is differentiable; the value of the loss does not change
    base, source = data3
    pair = build_pair(case3, TrainConfig(seed=1, iit_source_grads=source_grads), torch.device("cpu"))
    node = pair.corr.node("is_x_3")
    assert node.components == (Component("mlp", 0),)
    loss = pair.iit_loss(base, source, node)
    loss.backward()
    grad = pair.ll_model.blocks[0].mlp.W_in.grad
    reached = grad is not None and grad.abs().sum() > 0
    assert reached == source_grads
    assert pair.ll_model.unembed.W_U.grad.abs().sum() > 0  # the base run is differentiable either way
    detached = build_pair(case3, TrainConfig(seed=1, iit_source_grads=False), torch.device("cpu")).iit_loss(base, source, node)
    assert loss.item() == pytest.approx(detached.item(), rel=1e-6)


def test_behavior_loss_is_zero_for_identical_models(case3, data3):
    base, _ = data3
    assert _pair(case3).behavior_loss(base).item() == pytest.approx(0.0, abs=1e-10)
    assert _random_pair(case3).behavior_loss(base).item() > 1e-3


def test_losses_ignore_bos_and_padding(case3):
    pair = _pair(case3)
    tokens = case3.tokens([["x"], ["a", "x", "b", "c"]])
    pos = pair.positions(tokens)
    assert pos.tolist() == [[False, True, False, False, False], [False, True, True, True, True]]


def test_losses_have_gradients_only_in_the_ll_model(case3, data3):
    base, source = data3
    pair = _random_pair(case3)
    loss = pair.iit_loss(base, source) + pair.strict_loss(base, source) + pair.behavior_loss(base)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in pair.ll_model.parameters())
    assert all(p.grad is None for p in pair.hl_model.parameters())


def test_categorical_losses_and_metrics(case1, data1):
    base, source = data1
    same, rand = _pair(case1), _random_pair(case1)
    assert same.categorical
    for node in same.corr.hl_nodes:
        # cross-entropy against the HL argmax: minimal (not 0: Tracr logits are finite) for the HL model
        assert same.iit_loss(base, source, node).item() < rand.iit_loss(base, source, node).item()
    assert same.behavior_loss(base).item() < rand.behavior_loss(base).item()
    metrics = same.evaluate(base, source)
    assert metrics["iia"] == metrics["accuracy"] == 1.0
    # case 1 uses every head and MLP: nothing outside the circuit
    assert same.corr.non_circuit_components == [] and metrics["strict_accuracy"] == 1.0


def test_metrics_of_the_hl_model_and_of_a_random_model(case3, data3):
    base, source = data3
    m = _pair(case3).evaluate(base, source)
    assert m["iia"] == m["strict_accuracy"] == m["accuracy"] == m["circuit_accuracy"] == 1.0
    r = _random_pair(case3).evaluate(base, source)
    assert r["iia"] < 0.5 and r["accuracy"] < 0.5


def test_numerical_tolerance(case3, data3):
    base, source = data3
    pair = _pair(case3)
    noisy = copy.deepcopy(case3.model)
    with torch.no_grad():
        noisy.unembed.b_U += 0.03  # within atol 0.05
    assert _pair(case3, noisy).evaluate(base, source)["accuracy"] == 1.0
    with torch.no_grad():
        noisy.unembed.b_U += 0.05  # now 0.08 off
    assert _pair(case3, noisy).evaluate(base, source)["accuracy"] == 0.0
    assert pair.atol == 0.05


def test_positions_where_rasp_gives_none_are_ignored(case1, data1):
    base, source = data1
    pair = _pair(case1)
    hl = pair.hl_output(base)
    used = pair.defined(hl, pair.positions(base))
    # case 1 outputs None for the first two tokens: Tracr writes ~0 there, the argmax is noise
    assert not used[:, :3].any() and used[:, 3:].all()
    # a random LL model is not scored (nor trained) on those positions
    rand = _random_pair(case1)
    assert pair.correct(rand.ll_output(base), hl, pair.positions(base)).numel() == used.sum().item()


@pytest.mark.parametrize("case_id", ["113", "5", "21"])
def test_defined_positions_are_where_the_program_has_a_value(case_id):
    # Tracr's output scale varies by case (case 113 writes 0.003 for its answer, case 5 0.38 at some
    # positions); a RASP None stays near 0 (case 21 has some). Losses and metrics must count exactly
    # the positions where the program's output is not None.
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case

    compiled = compile_case(get_case(case_id), device="cpu")
    data = compiled.case.dataset(64, seed=3)
    base = compiled.tokens(data.clean_inputs)
    pair = build_pair(compiled, TrainConfig(), torch.device("cpu"))
    counted = pair.defined(pair.hl_output(base), pair.positions(base))
    expected = torch.zeros_like(counted)
    for row, outputs in enumerate(data.clean_outputs):
        for i, value in enumerate(outputs):
            expected[row, i + 1] = value is not None  # position 0 is BOS
    assert torch.equal(counted, expected)
    assert counted.any()


def test_hl_output_reuses_only_the_same_unchanged_batch(case3, data3):
    pair = _random_pair(case3)
    base = data3[0][:16]
    first = pair.hl_output(base)
    assert pair.hl_output(base) is first  # the same batch object: the strict and behaviour losses share it
    copy_ = base.clone()
    again = pair.hl_output(copy_)
    assert again is not first and torch.equal(again, first)
    copy_[:, 1:] = data3[0][16:32, 1:]  # changed in place: computed afresh
    changed = pair.hl_output(copy_)
    assert torch.equal(changed, pair.hl_model(data3[0][16:32], attention_mask=pair.mask(data3[0][16:32])))


def _count_hl_runs(pair):
    runs = []
    handle = pair.hl_model.embed.register_forward_hook(lambda *_: runs.append(1))
    return runs, handle


def test_evaluation_reuses_its_hl_targets_only_for_the_same_unchanged_pairs(case3, data3):
    base, source = (t[:64].clone() for t in data3)
    pair = _random_pair(case3)
    runs, handle = _count_hl_runs(pair)
    try:
        first = pair.evaluate(base, source, batch_size=32)
        n_first = len(runs)
        assert n_first > 0
        assert pair.evaluate(base, source, batch_size=32) == first  # the test pairs of every epoch
        assert len(runs) == n_first  # ... with no HL run
        base[:, 1:] = data3[0][64:128, 1:]  # changed in place: computed afresh
        changed = pair.evaluate(base, source, batch_size=32)
        assert len(runs) > n_first
    finally:
        handle.remove()
    assert changed == _random_pair(case3).evaluate(base, source, batch_size=32)
    assert changed != first


def test_hl_interventions_start_at_the_nodes_layer_and_give_the_full_runs_output(case3, data3):
    base, source = data3
    pair = _pair(case3)
    node = pair.corr.node("frac_prevs_1")  # a head in layer 1
    mask_b, mask_s = pair.mask(base), pair.mask(source)
    full = run_patched(pair.hl_model, base, source, node.hl_site, mask_b, mask_s)
    runs, handle = _count_hl_runs(pair)
    try:
        pair.hl_output(base)
        n_clean = len(runs)
        fast = pair.hl_intervened(base, source, node)
        assert len(runs) == n_clean + 1  # the source run embeds; the patched base run starts at layer 1
    finally:
        handle.remove()
    assert torch.equal(fast, full)
    assert not torch.equal(fast, pair.hl_output(base))  # the intervention changed something


def test_source_runs_stop_after_the_last_layer_they_cache_from(case3, data3):
    from circuits_benchmark.training.pair import source_cache

    _, source = data3
    model = case3.model
    reached = []
    handles = [b.register_forward_hook(lambda *_, i=i: reached.append(i)) for i, b in enumerate(model.blocks)]
    try:
        cache = source_cache(model, source, [Component("mlp", 0)], case3.encoding.attention_mask(source))
    finally:
        for h in handles:
            h.remove()
    assert reached == [0]
    _, full = model.run_with_cache(source, attention_mask=case3.encoding.attention_mask(source))
    assert torch.equal(cache["blocks.0.hook_mlp_out"], full["blocks.0.hook_mlp_out"])
