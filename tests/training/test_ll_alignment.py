"""InterpBench's correspondence: HL nodes keep their place in the LL model, except the overrides."""

import torch

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case
from circuits_benchmark.tracr_compat.alignment import Component
from circuits_benchmark.training import TrainConfig, build_pair
from circuits_benchmark.training.ll_model import ll_alignment


def test_case_3_frac_prevs_lives_in_head_2():
    compiled = compile_case(get_case("3"))
    placed = ll_alignment(compiled.alignment, "3")
    by_name = {compiled.alignment.rasp_names[label]: comps for label, comps in placed.components.items()
               if label in compiled.alignment.rasp_names}
    assert by_name["frac_prevs"] == [Component("head", 1, 2)]
    assert by_name["is_x"] == [Component("mlp", 0)]
    edges = placed.mib_edges("zero")
    assert "a1.h2->logits" in edges and "m0->a1.h2<v>" in edges
    assert not any("a1.h0" in e for e in edges)
    # the identity correspondence (same size) keeps the Tracr places
    assert ll_alignment(compiled.alignment, "3", same_size=True).mib_edges() == compiled.alignment.mib_edges()


def test_other_cases_keep_tracr_places():
    compiled = compile_case(get_case("1"))
    assert ll_alignment(compiled.alignment, "1").edges == compiled.alignment.edges


def test_pair_intervenes_on_hl_and_ll_places():
    compiled = compile_case(get_case("3"))
    pair = build_pair(compiled, TrainConfig(seed=0), torch.device("cpu"))
    node = next(n for n in pair.corr.hl_nodes if n.label.startswith("frac_prevs"))
    assert node.components == (Component("head", 1, 2),) and node.hl_site == (Component("head", 1, 0),)
    assert (pair.ll_model.cfg.n_layers, pair.ll_model.cfg.n_heads) == (2, 4)
    outside = set(pair.corr.non_circuit_components)
    assert Component("head", 1, 0) in outside and Component("head", 1, 2) not in outside
    assert len(outside) == 2 * 5 - 2  # 2 layers x (4 heads + 1 MLP), minus the two circuit nodes
