"""The HL IOI algorithm answers correctly and interventions on its nodes have the predicted effects."""

import pytest
import torch

from circuits_benchmark.ioi import (
    IOIHighLevel, corrupt_abc, generate_prompts, ioi_correspondence, ioi_true_edges, true_circuit,
)
from circuits_benchmark.ioi.pair import at_answer, defined


@pytest.fixture(scope="module")
def hl():
    return IOIHighLevel()


def test_hl_predicts_the_io_on_every_prompt(hl):
    batch = generate_prompts(500, 0)
    answer = at_answer(hl(batch.tokens), batch)
    assert torch.equal(answer.argmax(-1), batch.io)
    rows = torch.arange(len(batch))
    assert (answer[rows, batch.io] > answer[rows, batch.s]).all()
    assert defined(answer).all()


def test_hl_node_values(hl):
    batch = generate_prompts(100, 1)
    values = hl.node_values(batch.tokens)
    rows = torch.arange(len(batch))
    for i in range(len(batch)):
        dup = values["duplicate"][i]
        hits = torch.nonzero(dup >= 0).flatten().tolist()
        assert len(hits) == 1  # only S2 repeats a name
        s2 = hits[0]
        assert int(batch.tokens[i, s2]) == int(batch.s[i]) and int(batch.tokens[i, dup[s2]]) == int(batch.s[i])
        assert int(values["s_inhibition"][i, s2]) == int(batch.s[i])
    assert (values["names"][rows, batch.answer_pos] == -1).all()


def test_name_mover_intervention_gives_the_source_io(hl):
    base, source = generate_prompts(200, 2), generate_prompts(200, 3)
    out = at_answer(hl.intervene(base.tokens, source.tokens, "name_mover"), base)
    # the source's running sums at the base's answer position: its IO wherever the source prompt has ended
    ended = source.answer_pos <= base.answer_pos
    assert ended.sum() > 50
    assert torch.equal(out.argmax(-1)[ended], source.io[ended])


def test_s_inhibition_intervention(hl):
    base = generate_prompts(200, 4)
    # no inhibition (ABC source): the subject, seen twice, wins
    abc = corrupt_abc(base, 9)
    out = at_answer(hl.intervene(base.tokens, abc.tokens, "s_inhibition"), base)
    assert torch.equal(out.argmax(-1), base.s)
    # a source inhibiting the base's subject at the same position keeps the IO
    same = at_answer(hl.intervene(base.tokens, base.tokens, "s_inhibition"), base)
    assert torch.equal(same.argmax(-1), base.io)


def test_duplicate_intervention_follows_the_pointer(hl):
    base = generate_prompts(300, 5)
    source = base[torch.randperm(300, generator=torch.Generator().manual_seed(0))]
    out = at_answer(hl.intervene(base.tokens, source.tokens, "duplicate"), base).argmax(-1)
    # the source's S2 pointer reads the base's name at the source's S1 slot, if it is a base name position
    values_b, values_s = hl.node_values(base.tokens), hl.node_values(source.tokens)
    for i in range(300):
        dup = values_s["duplicate"][i]
        pointed = [int(dup[p]) for p in range(int(base.answer_pos[i]) + 1) if dup[p] >= 0]
        inhibited = {int(values_b["names"][i, q]) for q in pointed} - {-1}
        expected = int(base.io[i]) if int(base.s[i]) in inhibited and int(base.io[i]) not in inhibited else int(base.s[i])
        if int(base.io[i]) in inhibited and int(base.s[i]) in inhibited:
            continue
        assert int(out[i]) == expected


def test_correspondence_and_true_edges():
    corr = ioi_correspondence(6, 4, heads_per_node=2)
    assert corr.labels == ["duplicate", "s_inhibition", "name_mover"]
    assert [c.layer for c in corr.circuit_components] == [0, 0, 2, 2, 4, 4]
    assert len(corr.non_circuit_components) == 24 - 6 + 6
    edges = ioi_true_edges(corr)
    assert "a0.h0->a2.h1<q>" in edges and "a4.h1->logits" in edges and "input->a0.h0<k>" in edges
    assert not any(e.startswith("a0.h0->a4") or e.startswith("a2.h0->logits") for e in edges)
    with_mlp = ioi_correspondence(6, 4, include_mlp=True)
    assert with_mlp.labels[0] == "names" and with_mlp.node("names").components[0].kind == "mlp"
    mlp_edges = ioi_true_edges(with_mlp)
    assert [c.layer for c in with_mlp.node("duplicate").components] == [1, 1]
    assert "input->m0" in mlp_edges and "m0->a1.h1<k>" in mlp_edges and "m0->a4.h0<v>" in mlp_edges
    assert not any(e.startswith("m0->a0") for e in mlp_edges)
    with pytest.raises(ValueError):
        ioi_correspondence(2, 4)
    with pytest.raises(ValueError):
        ioi_correspondence(3, 4, include_mlp=True)


def test_true_circuit_on_the_graph():
    from circuits_benchmark.graph import ComputationalGraph
    from circuits_benchmark.ioi import IOITrainConfig, build_ioi_pair

    pair = build_ioi_pair(IOITrainConfig(n_layers=3, n_heads=2, d_model=16, device="cpu"))
    graph = ComputationalGraph.from_model(pair.ll_model)
    circuit = true_circuit(graph, pair.corr)
    assert set(circuit.edge_names()) == set(ioi_true_edges(pair.corr))


def test_node_induced_edges_contain_the_hl_edges():
    from circuits_benchmark.graph import ComputationalGraph
    from circuits_benchmark.ioi import IOITrainConfig, build_ioi_pair

    corr = ioi_correspondence(6, 4, include_mlp=True)
    hl_edges, induced = set(ioi_true_edges(corr)), set(ioi_true_edges(corr, node_induced=True))
    assert hl_edges < induced
    assert {"a1.h0->a4.h1<k>", "a1.h1->logits", "m0->a2.h0<q>", "input->logits"} <= induced
    assert not any(e.startswith("a4.h0->a2") or "a0." in e or "a3." in e or "a5." in e for e in induced)
    pair = build_ioi_pair(IOITrainConfig(n_layers=4, n_heads=2, d_model=16, include_mlp=True, device="cpu"))
    graph = ComputationalGraph.from_model(pair.ll_model)
    circuit = true_circuit(graph, pair.corr, node_induced=True)
    assert set(circuit.edge_names()) == set(ioi_true_edges(pair.corr, node_induced=True))
