"""The HookedTransformer equals Tracr's model, and the alignment names the components computing each node."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from tracr.compiler import lib
from tracr.rasp import rasp

from circuits_benchmark.tracr_compat import (
    Component,
    build_alignment,
    compile_program,
    to_hooked_transformer,
    tracr_encoding,
)
from circuits_benchmark.tracr_compat.validate import check_alignment, compare_with_tracr

VOCAB = {"a", "b", "x"}


def _programs():
    return {
        "numerical_causal": (lambda: lib.make_frac_prevs(rasp.tokens == "x"), True, False),
        "selector_width": (lambda: lib.make_hist(), False, False),
        "two_layers": (lambda: lib.make_sort_unique(rasp.tokens, rasp.tokens), False, True),
        "numerical_mlp": (lambda: lib.make_pair_balance(rasp.tokens, "a", "b"), True, False),
        "categorical_map": (lambda: rasp.Map(lambda t: t == "a", rasp.tokens).named("is_a"), False, False),
    }


def _inputs(unique: bool, n: int = 12, seed: int = 0) -> list[list[str]]:
    """Variable-length inputs, so padding and the attention mask are exercised too."""
    rng = np.random.default_rng(seed)
    values = sorted(VOCAB)
    if unique:
        return [[str(t) for t in rng.permutation(values)[: rng.integers(1, 4)]] for _ in range(n)]
    return [[str(t) for t in rng.choice(values, size=rng.integers(1, 6))] for _ in range(n)]


@pytest.fixture(scope="module", params=list(_programs()))
def compiled(request):
    build, causal, unique = _programs()[request.param]
    compilation = compile_program(build(), VOCAB, max_seq_len=5, causal=causal)
    model = to_hooked_transformer(compilation)
    return compilation, model, tracr_encoding(compilation), build_alignment(compilation), unique


def test_outputs_equal_tracr(compiled):
    compilation, model, encoding, _, unique = compiled
    assert compare_with_tracr(compilation, model, encoding, _inputs(unique)) == []


def test_residual_stream_equals_tracr(compiled):
    compilation, model, encoding, _, unique = compiled
    x = _inputs(unique, n=1)[0]
    tracr_out = compilation.model.apply(["BOS"] + x)
    tokens = encoding.encode([x])[:, : len(x) + 1]
    _, cache = model.run_with_cache(tokens)
    final = cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"][0]
    np.testing.assert_allclose(final.numpy(), np.asarray(tracr_out.transformer_output[0]), atol=1e-4)


def test_alignment_components_write_rasp_values(compiled):
    compilation, model, encoding, alignment, unique = compiled
    assert check_alignment(compilation, alignment, model, encoding, _inputs(unique)) == []


def test_wrong_alignment_is_detected(compiled):
    """The check can fail: point the output node at a component that does not compute it."""
    compilation, model, encoding, alignment, unique = compiled
    out = alignment.output_label
    wrong = Component("embed")
    broken = replace(alignment, components={**alignment.components, out: [wrong]})
    assert check_alignment(compilation, broken, model, encoding, _inputs(unique))


def test_true_circuit_of_sort():
    """make_sort_unique: a selector-width head+MLP computes target positions, a layer-1 head moves tokens."""
    compilation = compile_program(lib.make_sort_unique(rasp.tokens, rasp.tokens), VOCAB, 5, causal=False)
    alignment = build_alignment(compilation)
    assert alignment.mib_edges() == sorted(
        [
            "input->a0.h0<q>",
            "input->a0.h0<k>",
            "a0.h0->m0",
            "m0->a1.h0<k>",
            "input->a1.h0<q>",
            "input->a1.h0<v>",
            "a1.h0->logits",
        ]
    )
    assert [c.name for c in alignment.writers(alignment.output_label)] == ["blocks.1.attn.hook_result[0]"]
    # The layer-1 query reads `indices`, identical in every input: no edge under resample ablation.
    assert set(alignment.mib_edges("zero")) - set(alignment.mib_edges("patching")) == {"input->a1.h0<q>"}


def test_position_only_values_are_not_resample_edges():
    """A Map on indices is the same in clean and corrupted runs, so neither it nor its reads count."""
    on_positions = rasp.Map(lambda i: i % 2, rasp.indices).named("parity")
    program = rasp.SequenceMap(lambda p, t: f"{p}{t}", on_positions, rasp.tokens).named("tagged")
    alignment = build_alignment(compile_program(program, VOCAB, 4, causal=False))
    dropped = set(alignment.mib_edges("zero")) - set(alignment.mib_edges("patching"))
    assert dropped == {"input->m0", "m0->m1"}
    assert "input->m1" in alignment.mib_edges("patching")
    with pytest.raises(ValueError, match="unknown ablation"):
        alignment.mib_edges("bogus")


def test_encoding_rejects_bad_inputs():
    compilation = compile_program(lib.make_hist(), VOCAB, 4, causal=False)
    encoding = tracr_encoding(compilation)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encoding.encode([["a", "z"]])
    with pytest.raises(ValueError, match="exceeds max_seq_len"):
        encoding.encode([["a"] * 5])
    tokens = encoding.encode([["a", "b"]])
    assert tokens.shape == (1, 5)
    assert tokens[0, 0] == encoding.bos_id and (tokens[0, 3:] == encoding.pad_id).all()


def test_reserved_tokens_rejected():
    with pytest.raises(ValueError, match="reserved token"):
        compile_program(lib.make_hist(), {"a", "BOS"}, 4)


def test_model_runs_on_requested_device():
    compilation = compile_program(lib.make_hist(), VOCAB, 4, causal=False)
    model = to_hooked_transformer(compilation, device="cpu")
    assert all(p.device == torch.device("cpu") for p in model.parameters())
    assert model.cfg.use_attn_result and model.cfg.use_split_qkv_input and model.cfg.use_hook_mlp_in


def test_batched_tracr_reference_equals_apply(compiled):
    """The batched reference used by the equivalence checks is Tracr's own `apply`."""
    from circuits_benchmark.tracr_compat.validate import tracr_outputs

    compilation, _, _, _, unique = compiled
    inputs = _inputs(unique, n=6, seed=3)
    expected = [compilation.model.apply(["BOS"] + x).decoded[1:] for x in inputs]
    assert tracr_outputs(compilation, inputs) == expected


def test_values_constant_on_the_data_are_not_resample_edges():
    """With full-length inputs the length is the same everywhere: reading it carries nothing."""
    program = rasp.SequenceMap(lambda t, n: f"{t}{n}", rasp.tokens, lib.make_length()).named("tagged")
    compilation = compile_program(program, VOCAB, 4, causal=False)
    full_length = [x for x in _inputs(False, n=40) if len(x) == 4]
    syntactic, on_data = build_alignment(compilation), build_alignment(compilation, full_length)
    assert {on_data.rasp_names[label] for label in on_data.constant_labels} == {"length"}
    dropped = set(syntactic.mib_edges("patching")) - set(on_data.mib_edges("patching"))
    assert dropped == {"a0.h0->m0", "m0->m1"}
    assert syntactic.mib_edges("zero") == on_data.mib_edges("zero")
    varied = build_alignment(compilation, _inputs(False, n=40))  # lengths 1..5: the length varies
    assert varied.constant_labels == frozenset()
