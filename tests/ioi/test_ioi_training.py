"""IOI SIIT training improves IIA, stores in the InterpBench layout, and runs from the CLI."""

import argparse

import pytest
import torch

from circuits_benchmark.ioi import (
    IOITrainConfig, config_from_meta, evaluate_ioi_model, generate_prompts, ioi_task, ioi_true_edges,
    load_ioi_model, save_ioi_result, train_ioi,
)
from circuits_benchmark.ioi.pair import fast_mode, run_patched
from circuits_benchmark.training import load_ll_model


def _tiny(**kw):
    base = dict(n_layers=3, n_heads=2, d_model=32, heads_per_node=1, epochs=3, n_train=384, n_test=128,
                batch_size=64, lr=3e-3, seed=0, device="cpu", early_stop=False)
    base.update(kw)
    return IOITrainConfig(**base)


@pytest.fixture(scope="module")
def trained():
    return train_ioi(_tiny(), progress=False)


def test_short_training_improves_iia(trained):
    before = train_ioi(_tiny(epochs=0), progress=False).ll_model
    config = _tiny()
    iia_before = evaluate_ioi_model(before, config, n=200, seed=1)["iia"]
    after = trained.final_metrics
    assert trained.epochs_run == 3 and len(trained.history) == 3
    assert after["iia"] > iia_before + 0.1
    assert after["iit_loss"] > 0 and after["strict_loss"] > 0 and after["behavior_loss"] > 0
    assert {"iia/duplicate", "iia/s_inhibition", "iia/name_mover", "strict_accuracy", "accuracy",
            "circuit_accuracy"} <= set(after)
    # training leaves the model with the hooks the patching engine needs
    assert trained.ll_model.cfg.use_attn_result and trained.ll_model.cfg.use_split_qkv_input


def test_hook_z_patching_equals_result_patching(trained):
    """Patching a head at hook_z (fast mode) equals patching its hook_result (what the graph engine sees)."""
    model = trained.ll_model
    base, source = generate_prompts(16, 0).tokens, generate_prompts(16, 1).tokens
    comps = list(trained.pair.corr.hl_nodes[1].components) + [trained.pair.corr.non_circuit_components[-1]]
    want = run_patched(model, base, source, comps, site=lambda c: c.hook_name)  # hook_result / hook_mlp_out
    got = run_patched(model, base, source, comps)
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, model(base), atol=1e-3)  # the patch did something
    assert model.cfg.use_attn_result and model.cfg.use_split_qkv_input  # fast mode was left
    assert not torch.allclose(got, model(base), atol=1e-3)


def test_store_round_trip(trained, tmp_path):
    folder = save_ioi_result(trained, tmp_path)
    assert folder == tmp_path / "ioi"
    assert {"ll_model_510.pth", "ll_model_cfg_510.pkl", "meta_510.json", "edges.json"} <= {p.name for p in folder.iterdir()}
    stored = load_ll_model("ioi", "510", tmp_path, device="cpu")
    tokens = generate_prompts(8, 3).tokens
    assert torch.equal(stored.model(tokens), trained.ll_model(tokens))
    assert stored.edges == ioi_true_edges(trained.pair.corr)
    assert stored.meta["epochs_run"] == 3 and stored.meta["hl_nodes"]["duplicate"] == ["blocks.0.attn.hook_result[0]"]
    assert stored.meta["best_epoch"] == trained.best_epoch and stored.meta["stop_reason"] == "epoch limit (3)"
    assert stored.meta["ll_shape"]["n_layers"] == 3 and stored.meta["n_params"] > 0
    assert config_from_meta(stored.meta) == trained.config
    assert torch.equal(load_ioi_model("510", tmp_path).model(tokens), stored.model(tokens))


def test_ioi_trains_with_the_shared_loop(trained):
    """IOI training is `training.trainer.fit`: the Tracr result type, best epoch and stop reason."""
    from circuits_benchmark.training import TrainConfig, TrainResult

    assert type(trained) is TrainResult and trained.compiled is None and trained.case_id == "ioi"
    assert isinstance(trained.config, TrainConfig) and trained.stop_reason == "epoch limit (3)"
    scores = [min(h["iia"], h["strict_accuracy"], h["accuracy"]) for h in trained.history]
    assert trained.best_epoch == 1 + scores.index(max(scores))
    assert trained.final_metrics is trained.history[trained.best_epoch - 1]


def test_config_defaults_and_old_metas():
    c = IOITrainConfig()
    assert (c.strict_sampling, c.n_test, c.early_stop_threshold, c.clip_grad_norm) == ("random-subset", 500, 0.995, 1.0)
    assert (c.n_layers, c.n_heads, c.d_model, c.normalization_type, c.beta2) == (6, 4, 64, "LN", 0.999)
    assert c.model_pair == "strict" and c.run_name() == "510" and c.case_id == "ioi"
    old = {"next_token": True, "include_mlp": False, "heads_per_node": 1, "iit_weight": 1.0, "strict_weight": 0.4,
           "behavior_weight": 1.0, "strict_sampling": "all", "epochs": 7, "n_layers": 3, "d_model": 32,
           "normalization_type": None, "some_future_key": 1}
    loaded = config_from_meta({"training_args": old})
    # a meta from before --iit-source-grads describes a detached IIT source, whatever today's default
    assert c.iit_source_grads and not loaded.iit_source_grads
    assert loaded == IOITrainConfig(**{k: v for k, v in old.items() if k != "some_future_key"}, iit_source_grads=False)
    assert loaded.case_id == "ioi_next_token" and loaded.beta2 == 0.999
    assert config_from_meta({"training_args": {**old, "iit_source_grads": True}}).iit_source_grads


def test_ioi_task_scores_at_the_answer(trained):
    task = ioi_task(trained.ll_model, n=16)
    assert (task.positions.sum(1) == 1).all()
    assert not torch.equal(task.clean_tokens, task.corrupted_tokens)
    assert float(task.metric(task.clean_logits)) == pytest.approx(0.0, abs=1e-5)


def test_next_token_mode_trains_the_prefix():
    result = train_ioi(_tiny(next_token=True, epochs=2, n_train=256), progress=False)
    first, last = result.history[0], result.history[-1]
    assert "next_token_accuracy" in last and result.config.case_id == "ioi_next_token"
    assert last["behavior_loss"] < first["behavior_loss"]


def test_early_stop_and_time_limit():
    result = train_ioi(_tiny(epochs=3, n_train=64, early_stop=True, early_stop_threshold=0.0), progress=False)
    assert result.stopped_early and result.epochs_run == 1 and result.stop_reason == "early stop"
    result = train_ioi(_tiny(epochs=3, n_train=64, max_seconds=0.0), progress=False)
    assert not result.stopped_early and result.epochs_run == 1 and result.stop_reason == "time limit (0 s)"


def test_cli_train_ioi(tmp_path, capsys):
    from circuits_benchmark.commands import train

    parser = argparse.ArgumentParser(prog="main.py")
    train.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "ioi", "--epochs", "1", "--n-train", "64", "--n-test", "32", "--n-layers", "4",
                              "--n-heads", "2", "--d-model", "16", "--heads-per-node", "1", "--include-mlp",
                              "--device", "cpu", "--output-dir", str(tmp_path), "--no-progress"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "ioi [run 510]: 1 epochs" in out and "ended by epoch limit (1)" in out
    assert "on 1000 fresh prompt pairs" in out and "FAILS the gate" in out  # one tiny epoch cannot pass
    stored = load_ll_model("ioi", "510", tmp_path)
    assert stored.meta["training_args"]["include_mlp"] and "input->m0" in stored.edges
    gate = stored.meta["gate"]
    assert gate["pairs"] == 1000 and not gate["passed"] and "weakest_hl_node" in gate
    # the gate is a function of the weights and the seed: recomputing it gives the stored numbers
    from circuits_benchmark.training.trainer import regate_stored

    again = regate_stored("ioi", "510", tmp_path)
    assert {k: again[k] for k in ("iia", "strict_accuracy", "accuracy")} == {k: gate[k] for k in ("iia", "strict_accuracy", "accuracy")}


def test_cli_train_ioi_retry_failed_continues_the_stored_model(tmp_path, capsys):
    from circuits_benchmark.commands import train

    parser = argparse.ArgumentParser(prog="main.py")
    train.add_parser(parser.add_subparsers(dest="command", required=True))
    tiny = ["--n-train", "64", "--n-test", "32", "--n-layers", "3", "--n-heads", "2", "--d-model", "16",
            "--heads-per-node", "1", "--device", "cpu", "--output-dir", str(tmp_path), "--no-progress"]
    first = parser.parse_args(["train", "ioi", "--epochs", "1", *tiny])
    assert first.func(first) == 0
    before = load_ll_model("ioi", "510", tmp_path)
    again = parser.parse_args(["train", "ioi", "--epochs", "2", "--retry-failed", *tiny])
    assert again.func(again) == 0
    after = load_ll_model("ioi", "510", tmp_path)
    assert after.meta["chunks"] == 2 and after.meta["epochs_run"] == 3  # 1 + 2 epochs, in two chunks
    assert after.meta["seconds"] > before.meta["seconds"]
    changed = any(not torch.equal(a, b) for a, b in zip(before.model.parameters(), after.model.parameters()))
    assert changed
    wrong_shape = parser.parse_args(["train", "ioi", "--retry-failed", "--epochs", "1", *tiny, "--d-model", "32"])
    with pytest.raises(SystemExit, match="not the 3 x 2 x 32 asked for"):
        wrong_shape.func(wrong_shape)


@pytest.mark.parametrize("source_grads", [False, True])
def test_iit_source_grads_reach_the_intervened_heads(source_grads):
    from circuits_benchmark.ioi import build_ioi_pair

    pair = build_ioi_pair(_tiny(iit_source_grads=source_grads))
    assert pair.iit_source_grads == source_grads
    node = pair.corr.hl_nodes[0]
    base, source = generate_prompts(8, 0), generate_prompts(8, 1)
    pair.iit_loss(base, source, node).backward()
    # the intervened head's query weights act only through its replaced output (and the source run)
    c = node.components[0]
    grad = pair.ll_model.blocks[c.layer].attn.W_Q.grad
    reached = grad is not None and grad[c.head].abs().sum() > 0
    assert reached == source_grads
