"""InterpBench's and MIB's documented commands run here as written (tiny settings appended where slow).

Every command of InterpBench's README.md and EXPERIMENTS.md (FlyingPumba/circuits-benchmark, main)
and the options of MIB's run_attribution.py / run_evaluation.py / print_results.py go through
`circuits_benchmark.cli.main` in a temporary folder; each test checks the exit code and that the
files the README section "Coming from InterpBench / MIB" promises are written. Models come from
temporary stores: the Tracr models saved in the SIIT store / InterpBench layouts, and tiny IOI
models trained by the documented `train ioi` command.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from circuits_benchmark.cli import main

ROOT = Path(__file__).resolve().parents[2]

# verbatim from InterpBench's README.md and EXPERIMENTS.md
README_COMMANDS = [
    "train iit -i 3 --epochs 30 -s 0.4 -iit 1 -b 1 --early-stop",
    "run acdc -i 3 --tracr --threshold 0.71",
    "run sp -i 1 --siit-weights 510 --lambda-reg 0.5",
    "run sp --interp-bench --edgewise",
    "run eap -i ioi --siit-weights 510 --integrated-grad-steps=5",
]
EXPERIMENTS_COMMANDS = [
    "train iit -i 3 --epochs 500 --model-pair strict -iit 1 -s 0.4 -b 1",
    "train ioi --include-mlp --next-token --epochs 10 --save-to-wandb",
    "eval iit -i 3 --categorical-metric kl_div -w best",
    "eval ioi --next-token --include-mlp",
    "eval gt_node_realism -i 3 --mean -w best --relative 1",
    "run sp --loss-type l2 -i 3 --torch-num-threads 0 --device cpu --epochs 500 --atol 0.1",
    "run sp --loss-type l2 -i 3 --torch-num-threads 0 --device cpu --epochs 500 --atol 0.1 --edgewise",
    "eval iit_acdc -i 2 -w 100 -t 0.0 --load-from-wandb",
    "eval node_realism -i 3 --mean --relative 1 --algorithm acdc --tracr -t 0",
    "eval node_realism -i 3 --mean --relative 1 --algorithm node_sp -t 0",
    "eval node_realism -i 3 --mean --relative 1 --algorithm edge_sp -t 0",
    "eval ioi_acdc --data-size 10 --max-num-epochs 1 threshold 1000.0 --next-token --include-mlp",
]
FAST = ["--device", "cpu"]
TINY_RUN = ["--n-examples", "16", "--no-progress", *FAST]
TINY_IOI = ["--epochs", "1", "--n-train", "64", "--n-test", "32", "--n-layers", "4", "--n-heads", "2",
            "--d-model", "16", "--heads-per-node", "1", "--no-progress", *FAST]


def cli(command: str, *extra: str) -> int:
    """`main.py COMMAND EXTRA...` in-process (SystemExit from the parser becomes its code)."""
    try:
        return main([*shlex.split(command), *extra])
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTERPBENCH_DIR", raising=False)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A SIIT store (cases 1, 2, 3: run 510; case 2 also run 100) and an InterpBench folder (cases 3, 4),
    holding the cases' Tracr models: the commands' plumbing is under test here, not training."""
    from circuits_benchmark.models import load_model_for_study
    from circuits_benchmark.training.store import save_ll_model

    base = tmp_path_factory.mktemp("stores")
    for case in ("1", "2", "3", "4"):
        _, model = load_model_for_study(case)
        if case != "4":
            save_ll_model(model, case, run="510", root=base / "siit")
        if case == "2":
            save_ll_model(model, case, run="100", root=base / "siit")
        if case in ("3", "4"):
            save_ll_model(model, case, run=None, root=base / "interpbench")  # InterpBench's layout: no run suffix
    return {"siit": base / "siit", "interpbench": base / "interpbench"}


@pytest.fixture(scope="module")
def ioi_store(tmp_path_factory):
    """Tiny IOI models: EXPERIMENTS.md's `train ioi --include-mlp --next-token ...` itself, and the plain one."""
    root = tmp_path_factory.mktemp("ioi_store")
    assert cli(EXPERIMENTS_COMMANDS[1], *TINY_IOI, "--output-dir", str(root)) == 0
    assert cli("train ioi", *TINY_IOI, "--output-dir", str(root)) == 0
    return root


def meta(path: Path) -> dict:
    return json.loads(path.with_name(path.stem + ".meta.json").read_text())


# ---------------------------------------------------------------------------- training
@pytest.mark.parametrize("command", [README_COMMANDS[0], EXPERIMENTS_COMMANDS[0]])
def test_train_iit(command, tmp_path, capsys):
    assert cli(command, "--epochs", "1", "--n-train", "64", "--n-test", "32", "--output-dir", str(tmp_path / "m"),
               "--no-progress", *FAST) == 0
    assert (tmp_path / "m" / "3" / "ll_model_510.pth").exists()
    assert "case 3 [run 510]: 1 epochs" in capsys.readouterr().out


def test_train_ioi_next_token_with_mlp(ioi_store, capsys):
    stored = json.loads((ioi_store / "ioi_next_token" / "meta_510.json").read_text())
    assert stored["training_args"]["include_mlp"] and stored["training_args"]["next_token"]
    assert (ioi_store / "ioi_next_token" / "ll_model_510.pth").exists() and (ioi_store / "ioi" / "ll_model_510.pth").exists()


def test_save_to_wandb_says_what_it_does(tmp_path, capsys):
    assert cli(EXPERIMENTS_COMMANDS[1], *TINY_IOI, "--output-dir", str(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "note: --save-to-wandb: the model is saved to --output-dir" in err


# ---------------------------------------------------------------------------- run
def test_run_acdc_on_tracr_at_one_threshold(tmp_path, capsys):
    assert cli(README_COMMANDS[1], *TINY_RUN) == 0
    out = tmp_path / "results" / "circuits" / "tracr" / "case_3" / "acdc_edge_patching.json"
    assert out.exists() and meta(out)["config"]["thresholds"] == [0.71] and meta(out)["model"]["kind"] == "tracr"
    from circuits_benchmark.graph import read_circuit

    assert set(read_circuit(out).edge_scores.tolist()) <= {0.0, 0.71}


def test_run_sp_on_siit_weights_with_lambda(tmp_path, stores):
    assert cli(README_COMMANDS[2], "--models-root", str(stores["siit"]), "--epochs", "5", *TINY_RUN) == 0
    out = tmp_path / "results" / "circuits" / "siit_510" / "case_1" / "sp_node_patching.json"
    m = meta(out)
    assert m["config"]["lambdas"] == [0.5] and m["config"]["level"] == "node" and m["model"]["kind"] == "siit_510"


def test_run_sp_on_interp_bench_models_of_every_case(tmp_path, stores, capsys):
    assert cli(README_COMMANDS[3], "--interpbench-dir", str(stores["interpbench"]), "--epochs", "3",
               "--lambdas", "1", *TINY_RUN) == 0
    for case in ("3", "4"):
        out = tmp_path / "results" / "circuits" / "interpbench" / f"case_{case}" / "sp_edge_patching.json"
        assert meta(out)["config"]["level"] == "edge" and meta(out)["model"]["kind"] == "interpbench"
    assert "InterpBench models in" in capsys.readouterr().err


def test_interp_bench_offline_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub_cache"))
    assert cli(README_COMMANDS[3], *TINY_RUN) == 2
    err = capsys.readouterr().err
    assert "Hugging Face hub cannot be reached" in err and "--interpbench-dir DIR" in err
    assert "huggingface-cli download cybershiptrooper/InterpBench" in err and "Traceback" not in err


def test_run_eap_integrated_gradients_on_ioi(tmp_path, ioi_store, capsys):
    assert cli(README_COMMANDS[4], "--models-root", str(ioi_store), "--n-examples", "8", "--no-progress", *FAST) == 0
    out = tmp_path / "results" / "circuits" / "siit_510" / "case_ioi" / "eap-ig-masks_edge_patching.json"
    m = meta(out)
    assert m["method"] == "eap-ig-masks" and m["config"]["ig_steps"] == 5 and m["model"]["case"] == "ioi"
    assert "running eap-ig-masks with --ig-steps 5" in capsys.readouterr().err


def test_ioi_without_a_trained_model_says_how_to_train_it(tmp_path, capsys):
    assert cli(README_COMMANDS[4], "--models-root", str(tmp_path / "empty"), *TINY_RUN) == 2
    assert "train it with `main.py train ioi`" in capsys.readouterr().err


@pytest.mark.parametrize("command,level", [(EXPERIMENTS_COMMANDS[5], "node"), (EXPERIMENTS_COMMANDS[6], "edge")])
def test_run_sp_with_interp_bench_options(command, level, tmp_path, capsys):
    assert cli(command, "--epochs", "5", *TINY_RUN) == 0
    out = tmp_path / "results" / "circuits" / "tracr" / "case_3" / f"sp_{level}_patching.json"
    m = meta(out)
    assert m["config"]["metric"] == "l2" and m["config"]["epochs"] == 5 and m["config"]["level"] == level
    err = capsys.readouterr().err
    assert "note: --atol:" in err and "here the default is the Tracr model" in err


# ---------------------------------------------------------------------------- eval
def test_eval_iit_kl_div_best_weights(stores, capsys):
    assert cli(EXPERIMENTS_COMMANDS[2], "--root", str(stores["siit"]), "-n", "64", *FAST) == 0
    captured = capsys.readouterr()
    assert "run 510" in captured.out and "IIA" in captured.out
    assert "case 3 is numerical" in captured.err  # upstream applies the categorical metric to categorical cases only
    assert cli("eval iit -i 1 --categorical-metric kl_div -w best", "--root", str(stores["siit"]), "-n", "64",
               *FAST) == 0
    assert "per-node effect of resample ablation (kl_div" in capsys.readouterr().out


def test_eval_ioi(ioi_store, capsys):
    assert cli(EXPERIMENTS_COMMANDS[3], "--root", str(ioi_store), "-n", "32", *FAST) == 0
    out = capsys.readouterr().out
    assert "ioi_next_token (with MLP 0)" in out and "strict accuracy" in out
    assert cli("eval ioi --next-token", "--root", str(ioi_store), "-n", "32", *FAST) == 2
    assert "trained with --include-mlp" in capsys.readouterr().err


def test_eval_gt_node_realism(tmp_path, stores):
    assert cli(EXPERIMENTS_COMMANDS[4], "--models-root", str(stores["siit"]), "-n", "32", *FAST) == 0
    result = json.loads((tmp_path / "results" / "eval" / "realism_case_3.json").read_text())
    [score] = result["circuit_scores"]
    assert (score["model"], score["circuit"], score["ablation"], score["relative"]) == ("siit", "truth", "mean", True)
    assert score["score"] == pytest.approx(1.0)  # the stored model is the Tracr model: nothing outside matters


def test_eval_iit_acdc(tmp_path, stores):
    assert cli(EXPERIMENTS_COMMANDS[7], "--models-root", str(stores["siit"]), "-n", "16", "--no-progress", *FAST) == 0
    assert (tmp_path / "results" / "circuits" / "siit_100" / "case_2" / "acdc_edge_patching.json").exists()
    result = json.loads((tmp_path / "results" / "eval" / "iit_acdc_case_2_siit_100_threshold_0.json").read_text())
    assert set(result["confusion"]) == {"node", "edge", "head"} and result["threshold"] == 0.0
    assert result["confusion"]["edge"]["tp"] + result["confusion"]["edge"]["fn"] == result["n_true_edges"]


def test_eval_node_realism_acdc_on_tracr(tmp_path, capsys):
    assert cli(EXPERIMENTS_COMMANDS[8], "-n", "32", *FAST) == 2
    assert "run `main.py run acdc -i 3 --tracr --threshold 0` first" in capsys.readouterr().err
    assert cli("run acdc -i 3 --tracr --threshold 0", *TINY_RUN) == 0
    assert cli(EXPERIMENTS_COMMANDS[8], "-n", "32", *FAST) == 0
    scores = json.loads((tmp_path / "results" / "eval" / "realism_case_3.json").read_text())["circuit_scores"]
    assert [s["circuit"] for s in scores][0] == "truth" and scores[1]["threshold"] == 0.0
    assert scores[1]["circuit"].endswith("tracr/case_3/acdc_edge_patching.json") and scores[1]["ablation"] == "mean"


@pytest.mark.parametrize("command,edgewise", [(EXPERIMENTS_COMMANDS[9], False), (EXPERIMENTS_COMMANDS[10], True)])
def test_eval_node_realism_sp(command, edgewise, tmp_path, stores, capsys):
    extra = ["--edgewise"] if edgewise else []
    assert cli("run sp -i 3 -w best", *extra, "--models-root", str(stores["siit"]), "--epochs", "5", *TINY_RUN) == 0
    assert cli(command, "--models-root", str(stores["siit"]), "-n", "32", *FAST) == 0
    scores = json.loads((tmp_path / "results" / "eval" / "realism_case_3.json").read_text())["circuit_scores"]
    level = "edge" if edgewise else "node"
    assert scores[1]["circuit"].endswith(f"siit/case_3/sp_{level}_patching.json") and scores[1]["threshold"] == 1.0
    assert "-t: " in capsys.readouterr().err  # -t is not SP's (upstream ignores it too)


def test_eval_ioi_acdc(tmp_path, ioi_store, capsys):
    assert cli(EXPERIMENTS_COMMANDS[11], "--models-root", str(ioi_store), "--no-progress", *FAST) == 0
    result = json.loads((tmp_path / "results" / "eval" /
                         "ioi_acdc_case_ioi_next_token_siit_threshold_1000.json").read_text())
    assert result["threshold"] == 1000.0 and result["case"] == "ioi_next_token"
    assert meta(Path(result["circuit_file"]))["task"]["n_examples"] == 10
    err = capsys.readouterr().err
    assert "`threshold 1000.0` read as `--threshold 1000.0`" in err and "note: --max-num-epochs" in err


# ---------------------------------------------------------------------------- MIB
def test_mib_attribution_evaluation_and_results(tmp_path, capsys):
    circuits, results = tmp_path / "circuits", tmp_path / "mib_results"
    for method in ("EAP-IG-inputs", "information-flow-routes"):
        assert cli(f"run --models tracr --tasks 3 --method {method} --level edge --ablation patching --batch-size 20 "
                   f"--circuit-dir {circuits}", "--num-examples", "8", "--no-progress", *FAST) == 0
    assert (circuits / "tracr" / "case_3" / "eap-ig-inputs_edge_patching.json").exists()
    assert (circuits / "tracr" / "case_3" / "ifr_edge_patching.json").exists()
    assert cli(f"eval faithfulness --models tracr --tasks 3 --method EAP-IG-inputs information-flow-routes --level edge "
               f"--ablation patching --batch-size 20 --circuit-dir {circuits} --output-dir {results} --split validation "
               "--absolute", "-n", "8", "--no-plots", *FAST) == 0
    rows = json.loads((results / "faithfulness.json").read_text())
    assert sorted(r["method"] for r in rows) == ["eap-ig-inputs", "ifr"]
    assert cli(f"eval auroc --circuit-files {circuits}/tracr/case_3/ifr_edge_patching.json --output-dir {results}") == 0
    assert [r["method"] for r in json.loads((results / "auroc.json").read_text())] == ["ifr"]
    capsys.readouterr()
    for metric in ("cpr", "cmd", "auroc"):
        assert cli(f"eval print-results --output-dir {results} --split validation --metric {metric}") == 0
        assert "case 3" in capsys.readouterr().out


def test_mib_language_models_and_unsupported_options_are_refused(capsys):
    assert cli("run --models qwen2.5 gemma2 --tasks ioi mcqa --method EAP-IG-inputs --level edge --ablation patching "
               "--batch-size 20") == 2
    assert "MIB's language models are not models of this benchmark" in capsys.readouterr().err
    assert cli("run --models tracr --tasks 3 --method clean-corrupted") == 2
    assert "clean-corrupted" in capsys.readouterr().err
    for flag in ("--optimal-ablation-path oa.pkl", "--optimal_ablation_path=oa.pkl"):  # MIB's README has the second
        assert cli(f"run --models tracr --tasks 3 --method EAP --ablation optimal {flag}") == 2
        assert "ours are learned during the run" in capsys.readouterr().err


@pytest.mark.parametrize("method,ours", [("EAP", "eap"), ("EAP-IG-activations", "eap-ig-activations"),
                                         ("exact", "exact"), ("UGS", "ugs")])
def test_mib_method_spellings_run(method, ours, tmp_path):
    extra = ["--epochs", "2"] if ours == "ugs" else []
    assert cli(f"run --models tracr --tasks 3 --method {method} --level edge --ablation patching --batch-size 20 "
               f"--circuit-dir {tmp_path}", "--num-examples", "8", *extra, "--no-progress", *FAST) == 0
    assert (tmp_path / "tracr" / "case_3" / f"{ours}_edge_patching.json").exists()


def test_mib_ablations_say_which_mean_they_are(tmp_path, capsys):
    base = f"run --models tracr --tasks 3 --method EAP-IG-inputs --level node --circuit-dir {tmp_path} --split train"
    assert cli(f"{base} --ablation mean-positional", "--num-examples", "8", "--no-progress", *FAST) == 0
    err = capsys.readouterr().err
    assert "MIB's mean, averaged over positions too" not in err and "--split" in err  # the note on --split
    written = tmp_path / "tracr" / "case_3" / "eap-ig-inputs_node_mean.json"
    assert written.exists()
    written.unlink()
    assert cli(f"{base} --ablation mean", "--num-examples", "8", "--no-progress", *FAST) == 0
    assert "MIB's mean, averaged over positions too, is not available" in capsys.readouterr().err
    assert written.exists()
    # faithfulness takes MIB's spelling too
    assert cli(f"eval faithfulness --models tracr --tasks 3 --ablation mean-positional --circuit-dir {tmp_path} "
               f"--output-dir {tmp_path / 'out'}", "-n", "8", "--no-plots", *FAST) == 0
    rows = json.loads((tmp_path / "out" / "faithfulness.json").read_text())
    assert rows and all(r["ablation"] == "mean" for r in rows)


# ---------------------------------------------------------------------------- the README
def test_readme_lists_every_upstream_command_and_the_alias_table():
    from circuits_benchmark.commands.upstream import README_SECTION, markdown_table

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(f"## {README_SECTION}"):]
    section = section[:section.index("\n## ", 4)]
    assert markdown_table() in section
    for command in README_COMMANDS + EXPERIMENTS_COMMANDS + ["train iit --help"]:
        assert f"`{command}`" in section, f"{command!r} is not in the README section as written"


def test_train_iit_help_shows_interp_bench_options(capsys):
    assert cli("train iit --help") == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("-iit IIT_WEIGHT", "-s STRICT_WEIGHT", "-b BEHAVIOR_WEIGHT", "--early-stop", "--model-pair"):
        assert option in text


def test_help_shows_our_names_and_points_to_the_table(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "--thresholds T [T ...]" in text and "--lambdas L [L ...]" in text and "--results-dir" in text
    for upstream in ("--threshold ", "--lambda-reg", "--loss-type", "--tracr", "--siit-weights", "--circuit-dir"):
        assert upstream not in text  # accepted aliases, listed in the README table instead
    assert "Coming from InterpBench / MIB" in " ".join(text.split())


def test_a_bad_value_under_an_upstream_name_is_reported_under_that_name(capsys):
    assert cli("run sp -i 3 --data-size 0") == 2
    assert "argument --data-size/--num-examples/--head: must be a positive integer" in capsys.readouterr().err
