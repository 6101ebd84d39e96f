"""MIB JSON and .pt circuit files: exact round trips and clear errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from circuits_benchmark.graph import (
    Circuit,
    CircuitFileError,
    CircuitModelMismatchError,
    ComputationalGraph,
    GraphConfig,
    circuit_to_dict,
    read_circuit,
    write_circuit,
)


@pytest.fixture(scope="module")
def graph():
    return ComputationalGraph.from_model(GraphConfig(n_layers=2, n_heads=3, d_model=6))


def awkward_scores(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=gen, dtype=torch.float64) * 10.0 ** torch.randint(-30, 30, (n,), generator=gen)
    scores[0], scores[1], scores[2] = 0.1 + 0.2, -0.0, 5e-324
    return scores


def rich_circuit(graph: ComputationalGraph, unscored_node: bool = True) -> Circuit:
    gen = torch.Generator().manual_seed(1)
    node_scores = torch.randn(graph.n_nodes, generator=gen, dtype=torch.float64)
    if unscored_node:  # JSON leaves the score out; .pt (a score per upstream node) cannot hold it
        node_scores[3] = math.nan
    node_scores[-1] = math.nan  # logits: .pt files (like EAP-IG's) store upstream node scores only
    base = Circuit.from_scores(graph, awkward_scores(graph.n_edges), node_scores=node_scores).top_n(40)
    return Circuit(graph, base.edge_scores, base.edge_in_graph, base.node_in_graph, base.node_scores,
                   neuron_in_graph=torch.rand(graph.n_upstream, 6, generator=gen) > 0.5,
                   neuron_scores=torch.randn(graph.n_upstream, 6, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("suffix", [".json", ".pt"])
def test_round_trip_is_exact(graph, tmp_path, suffix):
    for circuit in (rich_circuit(graph, unscored_node=suffix == ".json"),
                    Circuit.from_scores(graph, awkward_scores(graph.n_edges, 2)).top_n(10)):
        path = tmp_path / f"circuit{suffix}"
        write_circuit(circuit, path)
        back = read_circuit(path, graph)
        assert back == circuit
        assert torch.equal(back.edge_scores.view(torch.int64), circuit.edge_scores.view(torch.int64))  # bit-exact
        assert read_circuit(path) == circuit  # graph rebuilt from the file's cfg


def test_json_layout_matches_mib(graph, tmp_path):
    data = circuit_to_dict(rich_circuit(graph))
    assert set(data) == {"cfg", "nodes", "edges"}
    assert data["cfg"] == {"n_layers": 2, "n_heads": 3, "parallel_attn_mlp": False, "d_model": 6}
    assert set(data["edges"]["input->a1.h0<q>"]) == {"score", "in_graph"}
    assert set(data["nodes"]["a0.h1"]) == {"in_graph", "score", "neurons", "neurons_scores"}
    assert data["nodes"]["logits"]["in_graph"] is True
    assert list(data["edges"]) == [e.name for e in graph.edges]


def test_attn_only_cfg_round_trip(tmp_path):
    graph = ComputationalGraph.from_model(GraphConfig(n_layers=2, n_heads=2, d_model=4, has_mlp=False))
    circuit = Circuit.from_scores(graph, awkward_scores(graph.n_edges)).top_n(5)
    for suffix in (".json", ".pt"):
        write_circuit(circuit, tmp_path / f"c{suffix}")
        assert read_circuit(tmp_path / f"c{suffix}") == circuit


def _valid(graph) -> dict:
    return json.loads(json.dumps(circuit_to_dict(Circuit.from_scores(graph, awkward_scores(graph.n_edges)).top_n(10))))


def _mutations():
    def drop(path):
        def f(d):
            target = d
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
        return f

    def set_(path, value):
        def f(d):
            target = d
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        return f

    edge = "a0.h1->m0"
    return [
        ("missing cfg", drop(["cfg"]), "'cfg'"),
        ("missing edges", drop(["edges"]), "'edges'"),
        ("unknown top key", set_(["extra"], 1), "'extra'"),
        ("missing cfg key", drop(["cfg", "d_model"]), "d_model"),
        ("unknown cfg key", set_(["cfg", "n_kv"], 1), "n_kv"),
        ("bad cfg type", set_(["cfg", "n_layers"], "2"), "n_layers"),
        ("unknown edge", set_(["edges", "m1->a0.h0<q>"], {"score": 1.0, "in_graph": True}), "m1->a0.h0<q>"),
        ("unknown node", set_(["nodes", "a9.h9"], {"in_graph": True}), "a9.h9"),
        ("missing score", drop(["edges", edge, "score"]), "'score'"),
        ("missing in_graph", drop(["edges", edge, "in_graph"]), "'in_graph'"),
        ("string score", set_(["edges", edge, "score"], "0.5"), edge),
        ("null score", set_(["edges", edge, "score"], None), edge),
        ("int in_graph", set_(["edges", edge, "in_graph"], 1), edge),
        ("unknown edge key", set_(["edges", edge, "weight"], 1.0), "weight"),
        ("edge not object", set_(["edges", edge], 0.5), edge),
        ("missing edge", drop(["edges", edge]), edge),
        ("node missing in_graph", drop(["nodes", "m0", "in_graph"]), "m0"),
        ("node bad neurons", set_(["nodes", "m0", "neurons"], [True]), "neurons"),
        ("node bad score", set_(["nodes", "m0", "score"], "x"), "m0"),
        ("unknown node key", set_(["nodes", "m0", "colour"], "red"), "colour"),
    ]


@pytest.mark.parametrize("label,mutate,needle", _mutations(), ids=[m[0] for m in _mutations()])
def test_malformed_json_raises(graph, tmp_path, label, mutate, needle):
    data = _valid(graph)
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CircuitFileError) as err:
        read_circuit(path, graph)
    assert needle in str(err.value)


def test_cfg_mismatch_and_garbage(graph, tmp_path):
    path = tmp_path / "c.json"
    write_circuit(Circuit.full(graph), path)
    other = ComputationalGraph.from_model(GraphConfig(n_layers=2, n_heads=4, d_model=6))
    with pytest.raises(CircuitFileError, match="n_heads"):
        read_circuit(path, other)
    path.write_text("{not json")
    with pytest.raises(CircuitFileError, match="not valid JSON"):
        read_circuit(path)
    with pytest.raises(CircuitFileError, match="extension"):
        read_circuit(tmp_path / "c.txt")


def test_malformed_pt_raises(graph, tmp_path):
    path = tmp_path / "c.pt"
    write_circuit(Circuit.full(graph), path)
    good = torch.load(path, weights_only=True)

    def check(mutate, needle):
        data = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in good.items()}
        data["cfg"] = dict(good["cfg"])
        mutate(data)
        torch.save(data, path)
        with pytest.raises(CircuitFileError) as err:
            read_circuit(path, graph)
        assert needle in str(err.value)

    check(lambda d: d.pop("edges_scores"), "edges_scores")
    check(lambda d: d.update(extra=1), "extra")
    check(lambda d: d.update(edges_scores=d["edges_scores"][:, :-1]), "edges_scores")
    check(lambda d: d.update(edges_scores=d["edges_scores"].long()), "edges_scores")
    check(lambda d: d.update(src_nodes=list(reversed(d["src_nodes"]))), "src_nodes")
    check(lambda d: d["cfg"].update(d_model=7), "d_model")
    check(lambda d: d["edges_in_graph"].fill_(True), "non-existent edge")
    check(lambda d: d.update(nodes_in_graph=d["nodes_in_graph"].double() * 0.5), "nodes_in_graph")
    path.write_bytes(b"garbage")
    with pytest.raises(CircuitFileError, match="readable"):
        read_circuit(path, graph)


# ---------------------------------------------------------------------------- non-finite scores: one rule
def _with_edge_scores(graph, values: dict) -> str:
    data = _valid(graph)
    for name, value in values.items():
        data["edges"][name]["score"] = value
    return json.dumps(data)  # Python writes NaN / Infinity literals, as a careless writer would


@pytest.mark.parametrize("values,needle", [
    ("all-nan", "nan"),
    ({"a0.h1->m0": math.nan}, "edges['a0.h1->m0']['score'] = nan"),
    ({"input->a1.h0<q>": math.inf}, "edges['input->a1.h0<q>']['score'] = inf"),
    ({"a0.h1->m0": -math.inf}, "= -inf"),
])
def test_non_finite_edge_scores_are_refused_on_read(graph, tmp_path, values, needle):
    if values == "all-nan":
        values = {e.name: math.nan for e in graph.edges}
    path = tmp_path / "c.json"
    path.write_text(_with_edge_scores(graph, values))
    for against in (graph, None):
        with pytest.raises(CircuitFileError, match="non-finite scores") as err:
            read_circuit(path, against)
        assert needle in str(err.value)
    if len(values) > 5:
        assert f"({len(values)} in all)" in str(err.value)  # the first few are named, then the count


def test_non_finite_node_and_neuron_scores_are_refused_on_read(graph, tmp_path):
    data = json.loads(json.dumps(circuit_to_dict(rich_circuit(graph))))
    data["nodes"]["m0"]["score"] = math.nan
    data["nodes"]["a1.h2"]["neurons_scores"][4] = math.inf
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CircuitFileError) as err:
        read_circuit(path, graph)
    assert "nodes['m0']['score'] = nan" in str(err.value)
    assert "nodes['a1.h2']['neurons_scores'][4] = inf" in str(err.value)


@pytest.mark.parametrize("key,index,needle", [
    ("edges_scores", (0, 0), "edges['input->"),
    ("nodes_scores", (1,), "nodes['a0.h0']['score'] = nan"),
    ("neurons_scores", (0, 2), "nodes['input']['neurons_scores'][2] = nan"),
])
def test_non_finite_pt_scores_are_refused_on_read(graph, tmp_path, key, index, needle):
    path = tmp_path / "c.pt"
    write_circuit(rich_circuit(graph, unscored_node=False), path)
    data = torch.load(path, weights_only=True)
    data[key][index] = math.nan
    torch.save(data, path)
    with pytest.raises(CircuitFileError, match="non-finite") as err:
        read_circuit(path, graph)
    assert needle in str(err.value)


@pytest.mark.parametrize("suffix", [".json", ".pt"])
def test_non_finite_scores_are_never_written(graph, tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    good = Circuit.from_scores(graph, awkward_scores(graph.n_edges))
    write_circuit(good, path)
    before = path.read_bytes()
    for bad_value in (math.nan, math.inf):
        scores = good.edge_scores.clone()
        scores[5] = bad_value
        with pytest.raises(CircuitFileError, match=r"non-finite scores.*edges\['"):
            write_circuit(Circuit.from_scores(graph, scores), path)
        assert path.read_bytes() == before  # the previous file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_written_json_is_standard(graph, tmp_path):
    """Unscored nodes (NaN in memory, e.g. logits) are left out, so strict JSON parsers read the file."""
    path = tmp_path / "c.json"
    write_circuit(rich_circuit(graph), path)

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(path.read_text(), parse_constant=no_constants)
    assert "score" not in data["nodes"]["logits"]


# ---------------------------------------------------------------------------- a file of another model
def test_cfg_mismatch_names_every_difference(graph, tmp_path):
    path = tmp_path / "gpt2.json"
    gpt2 = ComputationalGraph.from_model(GraphConfig(n_layers=12, n_heads=12, d_model=768))
    write_circuit(Circuit.full(gpt2), path)
    with pytest.raises(CircuitModelMismatchError) as err:
        read_circuit(path, graph)
    message = str(err.value)
    assert "n_layers 12 in the file vs 2 in the model" in message
    assert "n_heads 12 in the file vs 3" in message and "d_model 768 in the file vs 6" in message


def test_foreign_node_names_in_pt_are_named(graph, tmp_path):
    path = tmp_path / "c.pt"
    write_circuit(Circuit.full(graph), path)
    data = torch.load(path, weights_only=True)
    data["src_nodes"] = [n.replace("a0.h2", "a0.h9") for n in data["src_nodes"]]
    torch.save(data, path)
    with pytest.raises(CircuitModelMismatchError, match="'a0.h9'"):
        read_circuit(path, graph)
