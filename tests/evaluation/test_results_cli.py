"""Circuit-file discovery, CSV / JSON output, the methods x cases table and the eval subcommands."""

from __future__ import annotations

import argparse
import csv
import json

import pytest
import torch

from circuits_benchmark.commands import eval_circuits
from circuits_benchmark.evaluation.results import (
    find_circuit_files,
    format_results_table,
    parse_circuit_path,
    write_rows,
)
from circuits_benchmark.graph import Circuit, write_circuit


def run_eval(argv: list[str]) -> int:
    """Parse like `main.py eval ...` once the lead wires `add_parsers` under `eval`."""
    parser = argparse.ArgumentParser(prog="main.py eval")
    eval_circuits.add_parsers(parser.add_subparsers(dest="eval_command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


FAKE_ROWS = [
    {"model": "tracr", "case": "3", "method": "acdc", "level": "edge", "ablation": "patching", "auroc": 0.9},
    {"model": "tracr", "case": "12", "method": "acdc", "level": "edge", "ablation": "patching", "auroc": 0.7},
    {"model": "tracr", "case": "3", "method": "eap_ig", "level": "edge", "ablation": "patching", "auroc": 0.5},
    {"model": "tracr", "case": "12", "method": "eap_ig", "level": "edge", "ablation": "patching", "auroc": None},
    {"model": "siit", "case": "3", "method": "acdc", "level": "edge", "ablation": "patching", "auroc": 0.1},
]

EXPECTED_TRACR_TABLE = """\
method  case 3  case 12   mean
------------------------------
acdc     0.900    0.700  0.800
eap_ig   0.500        -  0.500
------------------------------
mean     0.700    0.700  0.700"""


def test_print_results_table(tmp_path, capsys):
    write_rows(FAKE_ROWS, tmp_path / "auroc.csv", tmp_path / "auroc.json")
    assert run_eval(["print-results", "--metric", "auroc", "--eval-dir", str(tmp_path), "--model", "tracr"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == EXPECTED_TRACR_TABLE
    # with both models, rows are told apart by model
    text = format_results_table(FAKE_ROWS, "auroc")
    assert "acdc [siit]" in text and "acdc [tracr]" in text


def test_print_results_without_results_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no evaluation results"):
        run_eval(["print-results", "--metric", "cpr", "--eval-dir", str(tmp_path)])


def test_csv_joins_lists_and_blanks_missing(tmp_path):
    write_rows([{"a": 1, "f": [0.5, 1.0]}, {"a": 2, "b": None}], tmp_path / "x.csv", tmp_path / "x.json")
    with open(tmp_path / "x.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"a": "1", "f": "0.5;1", "b": ""}, {"a": "2", "f": "", "b": ""}]
    assert json.loads((tmp_path / "x.json").read_text())[0]["f"] == [0.5, 1.0]


def test_parse_circuit_paths(tmp_path):
    cf = parse_circuit_path(tmp_path / "siit" / "case_12" / "eap_ig_inputs_edge_mean.json")
    assert (cf.model, cf.case_id, cf.method, cf.level, cf.ablation) == ("siit", "12", "eap_ig_inputs", "edge", "mean")
    with pytest.raises(ValueError, match="method"):
        parse_circuit_path(tmp_path / "tracr" / "case_3" / "circuit.json")


@pytest.fixture()
def results_dir(tmp_path, case3):
    """tracr/case_3 with a perfect, an inverted and a random scorer (plus a meta sidecar)."""
    compiled, task = case3
    graph = task.graph()
    truth = compiled.true_circuit(graph, "patching").edge_in_graph.double()
    folder = tmp_path / "circuits" / "tracr" / "case_3"
    folder.mkdir(parents=True)
    write_circuit(Circuit.from_scores(graph, truth), folder / "perfect_edge_patching.json")
    write_circuit(Circuit.from_scores(graph, 1.0 - truth), folder / "inverted_edge_patching.json")
    gen = torch.Generator().manual_seed(0)
    write_circuit(Circuit.from_scores(graph, torch.rand(graph.n_edges, generator=gen, dtype=torch.float64)),
                  folder / "random_edge_patching.pt")
    (folder / "perfect_edge_patching.meta.json").write_text(json.dumps({"runtime_s": 1.5}))
    return tmp_path


def test_find_circuit_files_skips_sidecars(results_dir):
    files = find_circuit_files(results_dir / "circuits")
    assert sorted(f.method for f in files) == ["inverted", "perfect", "random"]
    assert {f.method: f.meta for f in files}["perfect"] == {"runtime_s": 1.5}


def test_auroc_command(results_dir, capsys):
    out = results_dir / "eval"
    assert run_eval(["auroc", "--results-dir", str(results_dir / "circuits"), "--out", str(out), "--plots"]) == 0
    rows = {r["method"]: r for r in json.loads((out / "auroc.json").read_text())}
    assert rows["perfect"]["auroc"] == pytest.approx(1.0)
    assert rows["inverted"]["auroc"] == pytest.approx(0.0)
    assert rows["perfect"]["runtime_s"] == 1.5 and rows["perfect"]["truth_level"] == "edge"
    assert (out / "auroc.csv").exists()
    assert (out / "plots" / "tracr" / "case_3" / "perfect_edge_patching_roc.png").stat().st_size > 0
    capsys.readouterr()
    assert run_eval(["print-results", "--metric", "auroc", "--eval-dir", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["method", "case", "3", "mean"]
    assert "perfect" in table and "1.000" in table


def test_faithfulness_command(results_dir, capsys):
    out = results_dir / "eval"
    argv = ["faithfulness", "--results-dir", str(results_dir / "circuits"), "--out", str(out), "-n", "8",
            "--method", "perfect", "inverted"]
    assert run_eval(argv) == 0
    rows = {r["method"]: r for r in json.loads((out / "faithfulness.json").read_text())}
    assert set(rows) == {"perfect", "inverted"}
    perfect = rows["perfect"]
    assert perfect["f_abs"][-1] == pytest.approx(1.0, abs=1e-6)
    assert perfect["metric"] == "l2" and len(perfect["f_signed"]) == 10
    assert perfect["cmd"] < rows["inverted"]["cmd"]
    assert perfect["cpr"] > rows["inverted"]["cpr"]
    assert (out / "plots" / "tracr" / "case_3" / "perfect_edge_patching_faithfulness.png").stat().st_size > 0
    with open(out / "faithfulness.csv") as f:
        assert {r["method"] for r in csv.DictReader(f)} == {"perfect", "inverted"}


@pytest.fixture()
def siit_store(tmp_path, case3):
    """An (untrained) LL model for case 3, one head wider than the Tracr model, in a model store."""
    from circuits_benchmark.training import build_ll_model, make_ll_config, save_ll_model

    compiled, _ = case3
    cfg = make_ll_config(compiled.model.cfg, d_model=16, n_heads=compiled.model.cfg.n_heads + 1, seed=3)
    save_ll_model(build_ll_model(cfg), "3", "510", tmp_path / "models")
    return tmp_path / "models"


def test_siit_folders_use_head_level_truth_and_the_stored_model(tmp_path, case3, siit_store, capsys):
    from circuits_benchmark.graph import ComputationalGraph
    from circuits_benchmark.training import load_ll_model

    compiled, _ = case3
    ll = load_ll_model("3", "510", siit_store).model
    graph = ComputationalGraph.from_model(ll)
    truth = compiled.true_circuit(graph, "zero")  # a trained model's truth: every high-level edge
    folder = tmp_path / "circuits" / "siit" / "case_3"
    folder.mkdir(parents=True)
    write_circuit(Circuit.from_scores(graph, truth.edge_in_graph.double()), folder / "perfect_edge_patching.json")
    out = tmp_path / "eval"
    assert run_eval(["auroc", "--results-dir", str(tmp_path / "circuits"), "--out", str(out),
                     "--models-root", str(siit_store)]) == 0
    row = json.loads((out / "auroc.json").read_text())[0]
    assert row["truth_level"] == "head" and row["auroc"] == row["auroc_rank_head"] == pytest.approx(1.0)
    assert row["n_edges"] == graph.n_edges > ComputationalGraph.from_model(compiled.model).n_edges
    argv = ["faithfulness", "--results-dir", str(tmp_path / "circuits"), "--out", str(out), "-n", "8",
            "--models-root", str(siit_store), "--no-plots"]
    assert run_eval(argv) == 0
    row = json.loads((out / "faithfulness.json").read_text())[0]
    assert row["model"] == "siit" and row["f_abs"][-1] == pytest.approx(1.0, abs=1e-5)
    capsys.readouterr()
    argv = ["realism", "-i", "3", "--models", "tracr", "siit", "--models-root", str(siit_store), "-n", "8",
            "--out", str(out)]
    assert run_eval(argv) == 0
    rows = json.loads((out / "realism_case_3.json").read_text())["rows"]
    extra = [r for r in rows if r["tracr_effect"] is None]
    assert [r["node"] for r in extra] == ["a0.h1", "a1.h1"] and all(r["siit_effect"] is not None for r in extra)
    with pytest.raises(ValueError, match="no model weights"):
        run_eval(["realism", "-i", "3", "--models", "siit_999", "--models-root", str(siit_store)])


# ---------------------------------------------------------------------------- bad circuit files are refused
def _foreign_files(folder, graph):
    """Files an evaluation must refuse, by what is wrong with them; and the needle of each error."""
    from circuits_benchmark.graph import ComputationalGraph, GraphConfig, circuit_to_dict

    gpt2 = ComputationalGraph.from_model(GraphConfig(n_layers=12, n_heads=12, d_model=768))
    write_circuit(Circuit.full(gpt2), folder / "gpt2_edge_patching.json")
    data = circuit_to_dict(Circuit.full(graph))
    data["cfg"]["d_model"] = 99
    (folder / "wide_edge_patching.json").write_text(json.dumps(data))
    scores = torch.linspace(0.1, 1.0, graph.n_edges, dtype=torch.float64)
    for name, change in (("allnan", {e: float("nan") for e in graph.edge_names()}),
                         ("onenan", {graph.edge_name(0): float("nan")}),
                         ("oneinf", {graph.edge_name(1): float("inf")})):
        data = circuit_to_dict(Circuit.from_scores(graph, scores))
        for edge, value in change.items():
            data["edges"][edge]["score"] = value
        (folder / f"{name}_edge_patching.json").write_text(json.dumps(data))  # NaN / Infinity literals
    return {
        "gpt2": ["not a circuit of case 3's tracr model", "n_layers 12 in the file vs 2 in the model"],
        "wide": ["not a circuit of case 3's tracr model", "d_model 99 in the file vs"],
        "allnan": ["non-finite scores", "= nan", f"({graph.n_edges} in all)"],
        "onenan": ["non-finite scores", f"edges['{graph.edge_name(0)}']['score'] = nan"],
        "oneinf": ["non-finite scores", f"edges['{graph.edge_name(1)}']['score'] = inf"],
    }


@pytest.mark.parametrize("command", ["auroc", "faithfulness"])
def test_evaluations_refuse_foreign_and_non_finite_files(results_dir, case3, capsys, command):
    _, task = case3
    expected = _foreign_files(results_dir / "circuits" / "tracr" / "case_3", task.graph())
    out = results_dir / "eval"
    argv = [command, "--results-dir", str(results_dir / "circuits"), "--out", str(out), "--method", "perfect",
            *expected]
    if command == "faithfulness":
        argv += ["-n", "4", "--no-plots"]
    assert run_eval(argv) == 1  # some files were refused: non-zero exit
    err = capsys.readouterr().err
    lines = {line.split(":", 1)[0]: line for line in err.splitlines() if line.startswith(str(results_dir))}
    for method, needles in expected.items():
        line = lines[str(results_dir / "circuits" / "tracr" / "case_3" / f"{method}_edge_patching.json")]
        assert all(needle in line for needle in needles), line
    assert "5 circuit file(s) could not be evaluated" in err
    rows = json.loads((out / f"{command}.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert [r["method"] for r in rows] == ["perfect"]  # the good file is still evaluated and written
