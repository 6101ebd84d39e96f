"""`main.py bench` end to end on a small setting: tables, resumability, failure isolation, Ray."""

import json

import pytest

from circuits_benchmark.bench import BenchConfig, run_benchmark
from circuits_benchmark.bench.executors import run_jobs
from circuits_benchmark.bench.jobs import DiscoveryJob
from circuits_benchmark.cli import main

FAST_METHODS = ["exact", "eap"]


def _config(tmp_path, **overrides) -> BenchConfig:
    settings = dict(cases=["3"], methods=FAST_METHODS, results_dir=str(tmp_path), n_examples=8, workers=1)
    settings.update(overrides)
    return BenchConfig(**settings)


def test_bench_writes_tables_and_resumes(tmp_path):
    report = run_benchmark(_config(tmp_path), log=lambda _: None)
    assert not report.failures and not report.errors
    assert {r["method"] for r in report.auroc_rows} == set(FAST_METHODS)
    assert all(r["auroc"] == pytest.approx(1.0) for r in report.auroc_rows)  # case 3 is recovered exactly
    assert all(0.0 <= r["cpr"] <= 1.0 + 1e-6 for r in report.faithfulness_rows)
    tables = (tmp_path / "eval" / "bench_tracr_tables.txt").read_text()
    assert "AUROC" in tables and "CPR" in tables and "runtime" in tables
    assert all(r["runtime_s"] is not None for r in report.auroc_rows)
    # the statistics: one pair (exact vs eap) on one case; one case cannot show a significant difference
    assert "paired comparison over cases" in tables and "| eap | exact | 1 |" in tables
    comparisons = json.loads((tmp_path / "eval" / "bench_tracr_comparisons.json").read_text())
    assert {c["metric"] for c in comparisons} == {"auroc", "auroc_rank_node", "cpr", "cmd"}
    assert all(c["winner"] is None for c in comparisons)
    assert (tmp_path / "eval" / "plots" / "bench_tracr_auroc_box.png").stat().st_size > 0

    again = run_benchmark(_config(tmp_path), log=lambda _: None)
    assert [o.skipped for o in again.outcomes] == [True] * len(FAST_METHODS)
    assert again.auroc_rows == report.auroc_rows


def test_failing_job_is_reported_and_others_finish(tmp_path):
    jobs = [
        DiscoveryJob("3", "exact", str(tmp_path / "ok.json"), n_examples=4),
        DiscoveryJob("3", "exact", str(tmp_path / "bad.json"), level="neuron", ablation="zero", n_examples=4,
                     method_options={"epochs": "not-a-number", "bogus_option": 1}),
    ]
    bad, ok = run_jobs(jobs[::-1])  # inline runs finish in order: the failure comes first
    assert ok.ok and (tmp_path / "ok.json").exists()
    assert not (tmp_path / "bad.json").exists()
    assert not bad.ok and "bogus_option" in bad.error


def test_unknown_case_and_method_fail_up_front(tmp_path, capsys):
    assert main(["bench", "-i", "3,nope", "--results-dir", str(tmp_path)]) == 2
    assert "unknown case id 'nope'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown method"):
        run_benchmark(_config(tmp_path, methods=["no-such-method"]))


@pytest.mark.slow
def test_bench_on_ray(tmp_path):
    pytest.importorskip("ray")
    report = run_benchmark(_config(tmp_path, ray_address="local"), log=lambda _: None)
    assert not report.failures
    run_info = json.loads((tmp_path / "eval" / "bench_tracr_run.json").read_text())
    assert run_info["config"]["ray_address"] == "local"
    assert len(report.auroc_rows) == len(FAST_METHODS)


def _running(pid: int) -> bool:
    """Whether process `pid` still exists (the pool's own thread may have reaped a stopped worker
    before `multiprocessing` noticed, so its bookkeeping alone can lag)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_the_worker_pool_and_keeps_only_finished_files(tmp_path):
    """Ctrl-C in the main process (here: raised when the first job finishes) cancels the queue, stops
    the workers and re-raises; finished circuits stay complete, nothing partial is left."""
    import multiprocessing

    from circuits_benchmark.graph import read_circuit

    jobs = [DiscoveryJob("3", "exact", str(tmp_path / f"job{i}_edge_patching.json"), n_examples=4) for i in range(8)]

    def interrupt(outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, workers=2, on_done=interrupt)
    assert [p.pid for p in multiprocessing.active_children() if _running(p.pid)] == []  # the workers are gone
    circuits = [p for p in tmp_path.iterdir() if not p.name.endswith(".meta.json")]
    assert 1 <= len(circuits) < len(jobs)  # the queue was cancelled
    assert all(not p.name.endswith(".tmp") for p in circuits)
    for path in circuits:
        read_circuit(path)  # every file there is complete


def test_siit_bench_marks_the_gate_and_measures_realism(tmp_path):
    import shutil

    from circuits_benchmark.training.store import DEFAULT_ROOT

    store = tmp_path / "models"
    for case in ("3", "4"):
        shutil.copytree(DEFAULT_ROOT / case, store / case)
    meta_path = store / "4" / "meta_510.json"
    meta = json.loads(meta_path.read_text())
    meta["gate"]["passed"] = False  # as if case 4's model had missed the gate
    meta_path.write_text(json.dumps(meta))
    report = run_benchmark(_config(tmp_path, cases=["3", "4"], model="siit", models_root=str(store),
                                   faithfulness=False), log=lambda _: None)
    assert not report.failures and not report.errors
    assert {(r["case"], r["gate_passed"]) for r in report.auroc_rows} == {("3", True), ("4", False)}
    # the statistics use only the model that passes the gate
    (metric, _, summaries, _), *_ = report.statistics
    assert metric == "auroc" and all(s.n_cases == 1 for s in summaries)
    tables = (tmp_path / "eval" / "bench_siit_tables.txt").read_text()
    assert "leave out the 1 case(s) whose SIIT model fails the quality gate (their circuit is not a reliable truth): 4" in tables
    # realism: both models of both cases, every node of each model once
    assert {(r["case"], r["model"]) for r in report.realism_rows} == {(c, m) for c in "34" for m in ("tracr", "siit")}
    siit3 = next(r for r in report.realism_rows if r["case"] == "3" and r["model"] == "siit")
    nodes3 = [r for r in report.realism_node_rows if r["case"] == "3" and r["model"] == "siit"]
    assert siit3["n_nodes_circuit"] + siit3["n_nodes_outside"] == len(nodes3) == 2 * (4 + 1)  # 2 layers x (4 heads + MLP)
    assert siit3["truth_score"] > 0.9  # the model passes the gate: its circuit alone keeps its answers
    assert "realism: each node ablated alone" in tables
    assert (tmp_path / "eval" / "plots" / "bench_siit_realism_box.png").stat().st_size > 0


def test_evaluation_on_two_workers_gives_the_rows_of_one(tmp_path):
    """Cases are evaluated as separate jobs on the pool; the rows (AUROC, CPR/CMD, realism) and their
    order are those of the inline run, and the bigger case's job is queued first."""
    import shutil

    from circuits_benchmark.bench.runner import evaluation_jobs
    from circuits_benchmark.evaluation import find_circuit_files
    from circuits_benchmark.training.store import DEFAULT_ROOT

    store = tmp_path / "models"
    for case in ("3", "2"):
        shutil.copytree(DEFAULT_ROOT / case, store / case)
    settings = dict(cases=["3", "2"], model="siit", models_root=str(store))
    one = run_benchmark(_config(tmp_path, **settings), log=lambda _: None)
    two = run_benchmark(_config(tmp_path, **settings, workers=2), log=lambda _: None)
    assert not one.errors and not two.errors and all(o.skipped for o in two.outcomes)
    assert [r["file"] for r in one.auroc_rows] == sorted(r["file"] for r in one.auroc_rows)
    assert two.auroc_rows == one.auroc_rows and two.faithfulness_rows == one.faithfulness_rows
    assert [r["case"] for r in one.realism_rows] == ["3", "3", "2", "2"]
    assert two.realism_rows == one.realism_rows and two.realism_node_rows == one.realism_node_rows
    config = _config(tmp_path, **settings)
    files = find_circuit_files(config.circuits_dir)
    assert [job.case_id for job in evaluation_jobs(config, ["3", "2"], files)] == ["2", "3"]  # case 2: 479 edges


def test_siit_bench_finds_the_circuits_of_a_changed_model_again(tmp_path):
    import shutil

    import torch

    from circuits_benchmark.commands.run import meta_path
    from circuits_benchmark.training.store import DEFAULT_ROOT

    store = tmp_path / "models"
    shutil.copytree(DEFAULT_ROOT / "3", store / "3")
    config = _config(tmp_path, model="siit", models_root=str(store), faithfulness=False, realism=False)
    first = run_benchmark(config, log=lambda _: None)
    assert not first.failures and not any(o.skipped for o in first.outcomes)
    assert [o.skipped for o in run_benchmark(config, log=lambda _: None).outcomes] == [True, True]

    weights = store / "3" / "ll_model_510.pth"
    state = torch.load(weights)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name] = state[name] + 0.5  # as if the model had been trained again
    torch.save(state, weights)
    meta_path(tmp_path / "circuits" / "siit" / "case_3" / "eap_edge_patching.json").unlink()
    again = run_benchmark(config, log=lambda _: None)
    assert [o.skipped for o in again.outcomes] == [False, False]  # neither circuit is trusted
    assert [o.skipped for o in run_benchmark(config, log=lambda _: None).outcomes] == [True, True]


def test_siit_bench_takes_the_ioi_model(tmp_path):
    store = tmp_path / "models"
    assert main(["train", "ioi", "--epochs", "1", "--n-train", "64", "--n-test", "32", "--n-layers", "3",
                 "--n-heads", "2", "--d-model", "16", "--heads-per-node", "1", "--no-progress", "--device", "cpu",
                 "--output-dir", str(store)]) == 0
    report = run_benchmark(_config(tmp_path, cases=["ioi"], model="siit", models_root=str(store), methods=["eap"],
                                   faithfulness=False), log=lambda _: None)
    assert not report.failures and not report.errors, (report.failures, report.errors)
    (row,) = report.auroc_rows
    assert row["case"] == "ioi" and row["auroc_induced_head"] is not None and row["gate_passed"] is False
    assert [(r["case"], r["model"]) for r in report.realism_rows] == [("ioi", "siit")]  # no Tracr model


def test_bench_refuses_ioi_without_siit(tmp_path, capsys):
    assert main(["bench", "-i", "ioi", "--results-dir", str(tmp_path)]) == 2
    assert "no Tracr model" in capsys.readouterr().err


def test_bench_gives_its_learning_settings_to_the_methods_that_learn(tmp_path, capsys):
    assert main(["bench", "-i", "3", "-m", "sp,exact", "--epochs", "7", "--lr", "0.01", "-n", "8", "--workers", "1",
                 "--no-faithfulness", "--results-dir", str(tmp_path)]) == 0
    folder = tmp_path / "circuits" / "tracr" / "case_3"
    sp = json.loads((folder / "sp_edge_patching.meta.json").read_text())["config"]
    exact = json.loads((folder / "exact_edge_patching.meta.json").read_text())["config"]
    assert (sp["epochs"], sp["lr"]) == (7, 0.01)
    assert (exact["epochs"], exact["lr"]) != (7, 0.01)  # exact learns nothing: its defaults stay


def test_bench_finds_a_circuit_again_when_its_settings_change(tmp_path):
    import shutil

    def run(results, *options):
        assert main(["bench", "-i", "3", "-m", "sp,oa,exact", "--level", "edge", "-n", "8", "--workers", "1",
                     "--epochs", "3", "--no-faithfulness", "--no-realism", "--results-dir", str(results),
                     *options]) == 0
        folder = results / "circuits" / "tracr" / "case_3"
        return {m: json.loads((folder / f"{m}_edge_patching.meta.json").read_text())["config"] for m in ("sp", "oa", "exact")}

    first = run(tmp_path / "a")
    assert first["sp"]["lr"] == 0.05
    other_lr = run(tmp_path / "a", "--lr", "0.01")  # written into the same folder: sp and oa learn again
    assert other_lr["sp"]["lr"] == 0.01 and other_lr["oa"]["lr"] == 0.01
    assert other_lr["exact"] == first["exact"]  # exact learns nothing, so its circuit stands
    shutil.move(tmp_path / "a", tmp_path / "b")  # oa's cache path moves with the folder, its values do not
    moved = tmp_path / "b" / "circuits" / "tracr" / "case_3"

    def stamps():
        return {m: (moved / f"{m}_edge_patching.json").stat().st_mtime_ns for m in ("sp", "oa", "exact")}

    before = stamps()
    run(tmp_path / "b", "--lr", "0.01")
    assert stamps() == before
    more = run(tmp_path / "b", "--lr", "0.01", "-n", "6")  # fewer examples: every circuit is found again
    assert all(json.loads((moved / f"{m}_edge_patching.meta.json").read_text())["model"]["job"]["n_examples"] == 6
               for m in more)


def test_bench_finds_the_circuits_of_an_older_method_version_again(tmp_path, monkeypatch):
    import dataclasses

    from circuits_benchmark.methods import base

    config = _config(tmp_path, faithfulness=False, realism=False)
    assert not any(o.skipped for o in run_benchmark(config, log=lambda _: None).outcomes)
    meta = json.loads((tmp_path / "circuits" / "tracr" / "case_3" / "exact_edge_patching.meta.json").read_text())
    assert meta["method_version"] == base.get_method("exact").version
    newer = dataclasses.replace(base.get_method("exact"), version=base.get_method("exact").version + 1)
    monkeypatch.setitem(base._METHODS, "exact", newer)  # as if exact's results had changed
    again = run_benchmark(config, log=lambda _: None)
    assert {o.label.split()[0]: o.skipped for o in again.outcomes} == {"exact": False, "eap": True}


def test_bench_runs_each_method_with_each_ablation_it_supports(tmp_path):
    report = run_benchmark(_config(tmp_path, methods=["exact", "oa"], ablations=("patching", "mean"),
                                   faithfulness=False), log=lambda _: None)
    assert not report.failures and not report.errors
    # exact runs with both; optimal ablation has its own (learned) ablation and runs once
    assert sorted((r["method"], r["ablation"]) for r in report.auroc_rows) == [
        ("exact", "mean"), ("exact", "patching"), ("oa", "patching")]
    tables = (tmp_path / "eval" / "bench_tracr_tables.txt").read_text()
    assert "exact/mean" in tables and "exact/patching" in tables


def test_bench_runs_each_method_at_each_level_it_has(tmp_path):
    from circuits_benchmark.methods import get_method

    assert get_method("ugs").levels == ("edge",)
    report = run_benchmark(_config(tmp_path, methods=["exact", "ugs"], levels=("edge", "node"), faithfulness=False),
                           log=lambda _: None)
    assert not report.failures and not report.errors
    assert sorted((r["method"], r["level"]) for r in report.auroc_rows) == [
        ("exact", "edge"), ("exact", "node"), ("ugs", "edge")]  # ugs has no node level


def test_bench_passing_selects_the_models_that_pass_the_gate(tmp_path, capsys):
    import argparse

    from circuits_benchmark.commands.bench import passing_cases

    store = tmp_path / "models"
    assert main(["train", "iit", "-i", "3,13", "--epochs", "1", "--n-train", "64", "--n-test", "32", "--device", "cpu",
                 "--output-dir", str(store), "--no-progress"]) == 0
    args = argparse.Namespace(model="siit", models_root=str(store), run=None)
    with pytest.raises(SystemExit, match="no stored model"):
        passing_cases(args)  # one tiny epoch passes nothing
    meta_path = store / "13" / "meta_510.json"
    meta = json.loads(meta_path.read_text())
    meta["gate"]["passed"] = True
    meta_path.write_text(json.dumps(meta))
    assert passing_cases(args) == ["13"]
    with pytest.raises(SystemExit, match="with --model siit"):
        passing_cases(argparse.Namespace(model="tracr", models_root=str(store), run=None))


def test_optimal_ablation_learns_once_for_both_levels_of_a_case(tmp_path):
    from circuits_benchmark.bench.runner import discovery_jobs

    config = _config(tmp_path, cases=["3", "4"], methods=["oa", "ugs", "exact"], levels=("edge", "node"))
    jobs = discovery_jobs(config, config.cases)
    order = [(j.level, j.case_id, j.method) for j in jobs]
    assert order == [("edge", "3", "oa"), ("edge", "3", "ugs"), ("edge", "3", "exact"),
                     ("edge", "4", "oa"), ("edge", "4", "ugs"), ("edge", "4", "exact"),
                     ("node", "3", "oa"), ("node", "3", "exact"), ("node", "4", "oa"), ("node", "4", "exact")]
    caches = {j.level: j.method_options["extra"]["oa_cache"] for j in jobs if j.method == "oa" and j.case_id == "3"}
    assert caches["edge"] == caches["node"] and "case_3" in caches["edge"]
    assert not any(j.method_options for j in jobs if j.method != "oa")  # only jobs learning optimal values
    optimal = _config(tmp_path, cases=["3"], methods=["ugs"], ablations=("patching", "optimal"))
    ugs = {j.ablation: j.method_options for j in discovery_jobs(optimal, optimal.cases)}
    assert ugs["patching"] == {} and ugs["optimal"]["extra"]["oa_cache"] == caches["edge"]
    report = run_benchmark(_config(tmp_path, methods=["oa"], levels=("edge", "node"), faithfulness=False,
                                   realism=False), log=lambda _: None)
    assert not report.failures and len(report.auroc_rows) == 2  # the cache is not taken for a circuit file
    assert (tmp_path / "circuits" / "tracr" / "case_3" / "cache" / "oa_values.pt").exists()
