"""Every registered case: the HookedTransformer equals Tracr, and the true circuit is where the values are."""

import pytest

from circuits_benchmark.cases import all_cases
from circuits_benchmark.cases.compiled import compile_case, compile_tracr
from circuits_benchmark.tracr_compat import build_alignment, to_hooked_transformer, tracr_encoding
from circuits_benchmark.tracr_compat.validate import check_alignment, compare_with_tracr

N_INPUTS = 12


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.case_id)
def test_case_compiles_to_tracr_equivalent_model(case):
    compilation = compile_tracr(case)
    model, encoding = to_hooked_transformer(compilation), tracr_encoding(compilation)
    inputs = case.sample_inputs(N_INPUTS, seed=7)

    assert compare_with_tracr(compilation, model, encoding, inputs) == []
    alignment = build_alignment(compilation)
    assert check_alignment(compilation, alignment, model, encoding, inputs) == []
    assert any(e.child.kind == "logits" for e in alignment.edges)

    outputs = case.evaluate(case.sample_inputs(32, seed=8))
    assert len({tuple(map(str, y)) for y in outputs}) > 1, "the task's output never changes"


def test_disk_cache_round_trips():
    case = all_cases()[0]
    fresh = compile_case(case, use_cache=True)
    cached = compile_case(case, use_cache=True)
    inputs = case.sample_inputs(8, seed=3)
    assert fresh.run(inputs) == cached.run(inputs)
    assert fresh.alignment.mib_edges() == cached.alignment.mib_edges()
