"""`main.py run`: circuit + meta files, model sources (Tracr, SIIT store, any checkpoint), clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.commands.run import main, meta_path
from circuits_benchmark.graph import read_circuit
from circuits_benchmark.methods import MethodConfig, method_names, run_method
from circuits_benchmark.models import ModelLoadError, load_model_for_study, task_from_token_file
from circuits_benchmark.tasks import task_from_case

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_run_writes_a_circuit_that_reads_back(tmp_path, capsys):
    assert main(["eap", "-i", "3", "--n-examples", "16", "--no-progress"]) == 0
    out = tmp_path / "results" / "circuits" / "tracr" / "case_3" / "eap_edge_patching.json"
    circuit = read_circuit(out)
    meta = json.loads(meta_path(out).read_text())
    assert meta["method"] == "eap" and meta["config"]["level"] == "edge" and meta["runtime_seconds"] >= 0
    assert meta["task"]["n_examples"] == 16 and meta["model"]["kind"] == "tracr"
    # same scores as running the method directly
    compiled, model = load_model_for_study("3")
    task = task_from_case(compiled, 16, 0, model=model)
    direct = run_method("eap", task, MethodConfig(progress=False))
    torch.testing.assert_close(circuit.edge_scores, direct.edge_scores)
    assert circuit.edge_scores.abs().max() > 0
    printed = capsys.readouterr().out
    best = circuit.graph.edge_name(int(circuit.edge_scores.abs().argmax()))
    assert best in printed and "wrote" in printed


def test_run_node_level_to_pt(tmp_path):
    out = tmp_path / "c.pt"
    assert main(["exact", "-i", "3", "--level", "node", "--ablation", "mean", "--n-examples", "8",
                 "--out", str(out), "--no-progress"]) == 0
    circuit = read_circuit(out)
    assert circuit.node_scores is not None and (tmp_path / "c.meta.json").exists()


def test_every_registered_method_is_a_choice(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-method", "-i", "3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    for name in method_names():
        assert name in err


def test_unknown_case_and_unsupported_settings_exit_2(capsys):
    assert main(["eap", "-i", "not-a-case"]) == 2
    assert "valid ids" in capsys.readouterr().err
    assert main(["ifr", "-i", "3", "--level", "neuron", "--no-progress"]) == 2
    assert "supports levels" in capsys.readouterr().err
    assert main(["eap", "-i", "3", "--model", "siit", "--models-root", "nowhere", "--no-progress"]) == 2
    assert "no trained SIIT model" in capsys.readouterr().err


def test_siit_model_from_the_store(tmp_path):
    from circuits_benchmark.training.store import save_ll_model

    compiled, model = load_model_for_study("3")
    save_ll_model(model, "3", run="t1", root=tmp_path / "store")
    _, loaded = load_model_for_study("3", "siit", run="t1", root=tmp_path / "store")
    assert loaded is not model
    out = tmp_path / "siit.json"
    assert main(["exact", "-i", "3", "--model", "siit", "--run", "t1", "--models-root", str(tmp_path / "store"),
                 "--n-examples", "8", "--out", str(out), "--no-progress"]) == 0
    assert json.loads(meta_path(out).read_text())["model"]["kind"] == "siit_t1"
    reference = run_method("exact", task_from_case(compiled, 8, 0, model=model), MethodConfig(progress=False))
    torch.testing.assert_close(read_circuit(out).edge_scores, reference.edge_scores, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------- any checkpoint
def _checkpoint(tmp_path: Path) -> tuple[Path, Path, HookedTransformerConfig]:
    cfg = HookedTransformerConfig(n_layers=1, n_heads=2, d_model=8, d_head=4, n_ctx=6, d_vocab=7, act_fn="relu",
                                  normalization_type="LN", seed=0)
    model = HookedTransformer(cfg)
    ckpt, config = tmp_path / "model.pth", tmp_path / "cfg.json"
    torch.save(model.state_dict(), ckpt)
    config.write_text(json.dumps({"n_layers": 1, "n_heads": 2, "d_model": 8, "d_head": 4, "n_ctx": 6,
                                  "d_vocab": 7, "act_fn": "relu", "normalization_type": "LN"}))
    return ckpt, config, cfg


def test_checkpoint_with_token_file(tmp_path):
    ckpt, config, _ = _checkpoint(tmp_path)
    gen = torch.Generator().manual_seed(0)
    tokens = tmp_path / "tokens.pt"
    mask = torch.ones(5, 6, dtype=torch.long)
    mask[0, -2:] = 0
    torch.save({"clean_tokens": torch.randint(0, 7, (5, 6), generator=gen),
                "corrupted_tokens": torch.randint(0, 7, (5, 6), generator=gen),
                "clean_mask": mask, "corrupted_mask": mask}, tokens)
    out = tmp_path / "ckpt.json"
    assert main(["eap-ig-inputs", "--checkpoint", str(ckpt), "--config", str(config), "--tokens", str(tokens),
                 "--out", str(out), "--no-progress"]) == 0
    assert read_circuit(out).edge_scores.abs().max() > 0
    from circuits_benchmark.models import load_checkpoint_model

    task = task_from_token_file(load_checkpoint_model(ckpt, config), tokens)
    assert task.positions.sum() == 5 and bool(task.positions[0, 3]) and not bool(task.positions[0, 5])


def test_checkpoint_errors_are_clear(tmp_path, capsys):
    ckpt, config, _ = _checkpoint(tmp_path)
    bad_tokens = tmp_path / "bad.pt"
    torch.save({"clean_tokens": torch.zeros(3, 6, dtype=torch.long), "corrupted_tokens": torch.zeros(3, 5, dtype=torch.long)},
               bad_tokens)
    args = ["eap", "--checkpoint", str(ckpt), "--config", str(config), "--no-progress"]
    assert main(args + ["--tokens", str(bad_tokens)]) == 2
    assert "must have the same shape" in capsys.readouterr().err
    torch.save({"clean_tokens": torch.full((3, 6), 9), "corrupted_tokens": torch.zeros(3, 6, dtype=torch.long)}, bad_tokens)
    assert main(args + ["--tokens", str(bad_tokens)]) == 2
    assert "outside [0, 7)" in capsys.readouterr().err
    wrong_cfg = tmp_path / "wrong.json"
    wrong_cfg.write_text(json.dumps({"n_layers": 1, "n_heads": 2, "d_model": 16, "d_head": 8, "n_ctx": 6,
                                     "d_vocab": 7, "act_fn": "relu", "normalization_type": "LN"}))
    with pytest.raises(ModelLoadError, match="shape mismatches"):
        from circuits_benchmark.models import load_checkpoint_model
        load_checkpoint_model(ckpt, wrong_cfg)
    assert main(["eap", "--checkpoint", str(ckpt), "--no-progress"]) == 2
    assert "go together" in capsys.readouterr().err


# ---------------------------------------------------------------------------- never overwrite other settings
def test_run_does_not_overwrite_a_result_made_with_other_settings(tmp_path, capsys):
    out = tmp_path / "results" / "circuits" / "tracr" / "case_3" / "eap_edge_patching.json"
    assert main(["eap", "-i", "3", "--n-examples", "8", "--no-progress"]) == 0
    before, meta_before = out.read_bytes(), meta_path(out).read_bytes()
    capsys.readouterr()
    # other settings: refused, naming them and --force; nothing changes
    assert main(["eap", "-i", "3", "--n-examples", "16", "--seed", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "made with other settings" in err and "n_examples: 8 there, 16 now" in err
    assert "config.seed: 0 there, 1 now" in err and "--force" in err
    assert out.read_bytes() == before and meta_path(out).read_bytes() == meta_before
    # the same settings: overwriting is fine (progress bars and an explicit default metric change nothing)
    assert main(["eap", "-i", "3", "--n-examples", "8", "--metric", "output_diff"]) == 0
    # --force replaces it
    assert main(["eap", "-i", "3", "--n-examples", "16", "--no-progress", "--force"]) == 0
    assert json.loads(meta_path(out).read_text())["task"]["n_examples"] == 16
    # a result whose settings are unknown (no meta) is not overwritten either
    meta_path(out).unlink()
    capsys.readouterr()
    assert main(["eap", "-i", "3", "--n-examples", "16", "--no-progress"]) == 2
    assert "settings are unknown" in capsys.readouterr().err


def test_non_finite_scores_from_a_method_are_an_error_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    import circuits_benchmark.commands.run as run_command
    from circuits_benchmark.graph import Circuit

    def broken(method, task, config, graph):
        scores = torch.ones(graph.n_edges, dtype=torch.float64)
        scores[2] = float("nan")
        return Circuit.from_scores(graph, scores)

    monkeypatch.setattr(run_command, "run_method", broken)
    out = tmp_path / "c.json"
    assert main(["eap", "-i", "3", "--n-examples", "4", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "eap produced non-finite scores" in err and "= nan" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []
