"""The trainer's InterpBench defaults, best-checkpoint keeping, stop reasons and multi-case runs."""

import json

import pytest
import torch

from circuits_benchmark.cli import main as _main
from circuits_benchmark.training import TrainConfig, train
from circuits_benchmark.training.trainer import make_data


def _quick(**kw):
    base = dict(epochs=3, n_train=256, n_test=128, batch_size=64, lr=3e-3, seed=0, device="cpu", early_stop=False)
    base.update(kw)
    return TrainConfig(**base)


def _train_tiny(tmp_path, cases: str = "13") -> list[str]:
    """Train `cases` for one tiny epoch into `tmp_path` with `main.py train iit`; its arguments, to run again."""
    args = ["train", "iit", "-i", cases, "--epochs", "1", "--n-train", "64", "--n-test", "32", "--device", "cpu",
            "--output-dir", str(tmp_path), "--no-progress"]
    assert _main(args) == 0
    return args


def test_defaults_are_interp_bench_recipe():
    c = TrainConfig()
    assert (c.lr, c.beta1, c.beta2, c.clip_grad_norm, c.batch_size) == (1e-3, 0.9, 0.9, 0.1, 256)
    assert c.early_stop and c.early_stop_threshold == 0.995 and c.strict_sampling == "one+all"
    assert (c.iit_weight, c.strict_weight, c.behavior_weight) == (1.0, 0.4, 1.0) and c.run_name() == "510"
    assert c.strict_source_grads and c.iit_source_grads  # the two deliberate departures (upstream detaches both)


def test_strict_weight_applied_once_or_twice():
    assert TrainConfig().strict_factor() == 0.4
    assert abs(TrainConfig(strict_weight_twice=True).strict_factor() - 0.16) < 1e-12
    assert TrainConfig(model_pair="iit", strict_weight_twice=True).strict_factor() == 0.0


def test_best_epoch_is_kept_after_a_collapse(case3):
    def collapse(epoch, metrics):
        if epoch == 2:  # wreck the weights: later epochs start from scratch
            with torch.no_grad():
                for p in result_holder["model"].parameters():
                    p.normal_(0, 3.0)

    result_holder = {}
    config = _quick(epochs=4, lr=1e-3)
    from circuits_benchmark.training.trainer import build_pair

    ll = build_pair(case3, config, torch.device("cpu")).ll_model
    result_holder["model"] = ll
    result = train("3", config, compiled=case3, ll_model=ll, progress=False, on_epoch=collapse)
    scores = [min(h["iia"], h["strict_accuracy"], h["accuracy"]) for h in result.history]
    assert result.best_epoch == 1 + scores.index(max(scores)) and result.best_epoch <= 2
    assert scores[2] < max(scores)  # the collapse happened
    # the returned weights are the best epoch's: they reproduce its held-out metrics exactly
    test_base, test_source = make_data(case3, config.n_test, config.seed + 7_777)
    again = result.pair.evaluate(test_base, test_source)
    assert again["iia"] == result.final_metrics["iia"] and again["accuracy"] == result.final_metrics["accuracy"]
    assert result.stop_reason == "epoch limit (4)"


def test_time_limit_is_reported(case3):
    result = train("3", _quick(epochs=50, max_seconds=0.01), compiled=case3, progress=False)
    assert result.epochs_run == 1 and result.stop_reason.startswith("time limit")


def test_train_several_cases_resumes(tmp_path, capsys):
    args = _train_tiny(tmp_path, "3,13")
    out = capsys.readouterr().out
    assert "case 3 [run 510]: 1 epochs" in out and "case 13 [run 510]: 1 epochs" in out
    manifest = (tmp_path / "manifest_510.csv").read_text().splitlines()
    assert manifest[0].startswith("case,run,n_layers") and [r.split(",")[0] for r in manifest[1:]] == ["3", "13"]
    meta = json.loads((tmp_path / "13" / "meta_510.json").read_text())
    assert meta["gate"]["pairs"] == 1000 and meta["ll_shape"]["n_heads"] == 4 and meta["ll_shape"]["n_layers"] == 2
    assert _main(args) == 0  # everything stored: nothing is trained again
    out = capsys.readouterr().out
    assert out.count("already stored, skipped") == 2


def test_retry_failed_continues_from_the_stored_weights(tmp_path, capsys):
    args = _train_tiny(tmp_path)
    first = json.loads((tmp_path / "13" / "meta_510.json").read_text())
    assert not first["gate"]["passed"] and first["chunks"] == 1
    assert _main(args + ["--retry-failed"]) == 0
    second = json.loads((tmp_path / "13" / "meta_510.json").read_text())
    assert second["chunks"] == 2 and second["epochs_run"] == 2
    assert second["seconds"] > first["seconds"]
    assert "FAILS the gate" in capsys.readouterr().out


def test_a_retry_chunk_that_ends_worse_keeps_the_stored_model(tmp_path, capsys):
    args = _train_tiny(tmp_path)
    meta_path, weights = tmp_path / "13" / "meta_510.json", tmp_path / "13" / "ll_model_510.pth"
    meta = json.loads(meta_path.read_text())
    # pretend the stored weights were nearly passing: one tiny chunk cannot beat that
    meta["gate"].update(iia=0.989, strict_accuracy=0.989, accuracy=0.989, passed=False)
    meta_path.write_text(json.dumps(meta))
    before = weights.read_bytes()
    assert _main(args + ["--retry-failed"]) == 0
    after = json.loads(meta_path.read_text())
    assert weights.read_bytes() == before and after["gate"] == meta["gate"]
    assert after["chunks"] == 2 and after["epochs_run"] == 2 and "stored model kept" in after["stop_reason"]
    assert "stored model kept" in capsys.readouterr().out


def test_restart_failed_trains_from_scratch_and_counts_the_replaced_seconds(tmp_path, capsys):
    args = _train_tiny(tmp_path)
    meta_path, weights = tmp_path / "13" / "meta_510.json", tmp_path / "13" / "ll_model_510.pth"
    first_weights = torch.load(weights)
    meta = json.loads(meta_path.read_text())
    meta["gate"].update(iia=0.0, strict_accuracy=0.0, accuracy=0.0, passed=False)  # any new run beats this
    meta_path.write_text(json.dumps(meta))
    assert _main(args + ["--restart-failed"]) == 0
    after = json.loads(meta_path.read_text())
    # a fresh run with the same seed is the first run again (a continued run would not be)
    assert all(torch.equal(v, first_weights[k]) for k, v in torch.load(weights).items())
    assert after["chunks"] == 1 and after["epochs_run"] == 1 and after["gate"]["iia"] > 0
    assert after["discarded_seconds"] == pytest.approx(meta["seconds"], abs=0.01)

    # a restart that ends worse keeps the stored model; its seconds are discarded too
    after["gate"].update(iia=0.989, strict_accuracy=0.989, accuracy=0.989, passed=False)
    meta_path.write_text(json.dumps(after))
    before = weights.read_bytes()
    assert _main(args + ["--restart-failed"]) == 0
    kept = json.loads(meta_path.read_text())
    assert weights.read_bytes() == before and kept["gate"] == after["gate"] and kept["chunks"] == 1
    assert kept["discarded_seconds"] > after["discarded_seconds"] and "restart ended by" in kept["stop_reason"]
    assert "stored model kept" in capsys.readouterr().out


def test_restart_insufficient_retrains_only_passing_models_below_the_sufficiency_target(tmp_path, capsys):
    args = _train_tiny(tmp_path)
    meta_path, weights = tmp_path / "13" / "meta_510.json", tmp_path / "13" / "ll_model_510.pth"
    meta = json.loads(meta_path.read_text())
    meta["gate"].update(iia=1.0, strict_accuracy=1.0, accuracy=1.0, passed=True, circuit_accuracy=0.5, sufficient=False)
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert _main(args + ["--retry-failed", "--restart-failed"]) == 0  # it passes: neither flag touches it
    assert "already stored, skipped" in capsys.readouterr().out
    before = weights.read_bytes()
    assert _main(args + ["--restart-insufficient"]) == 0  # one epoch fails the gate: the passing model stays
    kept = json.loads(meta_path.read_text())
    assert weights.read_bytes() == before and kept["gate"] == meta["gate"]
    assert kept["discarded_seconds"] > 0 and "restart ended by" in kept["stop_reason"]
    assert "stored model kept" in capsys.readouterr().out
    kept["gate"]["sufficient"] = True
    meta_path.write_text(json.dumps(kept))
    assert _main(args + ["--restart-insufficient"]) == 0
    assert "already stored, skipped" in capsys.readouterr().out


def test_model_rank_prefers_passing_then_sufficiency_then_the_gate():
    from circuits_benchmark.training.trainer import model_rank

    def gate(passed, low, suff):
        return dict(passed=passed, iia=low, strict_accuracy=1.0, accuracy=1.0, circuit_accuracy=suff)

    assert model_rank(gate(True, 0.99, 0.5)) > model_rank(gate(False, 0.989, 1.0))
    assert model_rank(gate(True, 0.99, 0.9)) > model_rank(gate(True, 1.0, 0.8))  # passing: sufficiency first
    assert model_rank(gate(False, 0.9, 0.1)) > model_rank(gate(False, 0.8, 1.0))  # failing: the gate first


def test_fast_mode_softmax_equals_torch_and_is_restored(case3):
    import torch.nn.functional as F
    from transformer_lens.components import abstract_attention

    from circuits_benchmark.training.pair import fast_mode

    model = case3.model
    tokens = case3.tokens([["x", "a", "x", "b"]])
    mask = case3.encoding.attention_mask(tokens)
    before = model(tokens, attention_mask=mask)
    with fast_mode(model):
        assert abstract_attention.F is not F
        fast = model(tokens, attention_mask=mask)
    assert abstract_attention.F is F and model.cfg.use_attn_result
    assert torch.allclose(fast, before, atol=1e-5)


def test_a_failing_model_is_listed_with_where_it_falls_short(tmp_path):
    from circuits_benchmark.training.manifest import manifest_rows
    from circuits_benchmark.training.trainer import regate_stored

    _train_tiny(tmp_path)
    meta_path = tmp_path / "13" / "meta_510.json"
    meta = json.loads(meta_path.read_text())
    gate = meta["gate"]
    assert not gate["passed"]
    weakest = gate["weakest_outside_node"]
    assert weakest["rate"] <= gate["strict_accuracy"] and weakest["name"].startswith("blocks.")
    row = manifest_rows(tmp_path)[0]
    misses = [k for k in ("iia", "strict_accuracy", "accuracy") if gate[k] < 0.99]
    assert row["shortfall"] and len(row["shortfall"].split("; ")) == len(misses)
    # an old meta file without the weakest nodes is re-gated to the same numbers
    old = {k: v for k, v in gate.items() if not k.startswith("weakest")}
    meta_path.write_text(json.dumps({**meta, "gate": old}))
    again = regate_stored("13", "510", tmp_path)
    assert {k: again[k] for k in old} == old and again["weakest_outside_node"] == weakest
    # a stored number the weights do not reproduce is an error, not a silent change
    meta_path.write_text(json.dumps({**meta, "gate": {**old, "accuracy": old["accuracy"] - 0.5}}))
    with pytest.raises(ValueError, match="differs from the stored"):
        regate_stored("13", "510", tmp_path)


def test_weakest_iit_sampling_favours_the_nodes_with_the_lowest_iia(case3):
    import numpy as np

    from circuits_benchmark.training.trainer import build_pair

    with pytest.raises(ValueError, match="iit sampling"):
        TrainConfig(iit_sampling="worst")
    corr = build_pair(case3, _quick(), torch.device("cpu")).corr
    a, b = corr.labels
    weights = corr.weakest_node_weights({a: 0.90, b: 1.0})
    assert weights.sum() == pytest.approx(1.0) and weights[0] == pytest.approx(0.75) and weights[1] == pytest.approx(0.25)
    assert np.allclose(corr.weakest_node_weights({a: 1.0, b: 1.0}), 0.5)  # nothing to favour: uniform
    rng = np.random.default_rng(0)
    drawn = [corr.sample_hl_node(rng, weights).label for _ in range(2000)]
    assert 0.70 < drawn.count(a) / len(drawn) < 0.80
    # training with it sets the weights from each epoch's held-out IIA
    result = train("3", _quick(epochs=2, iit_sampling="weakest"), compiled=case3, progress=False)
    last = result.history[-1]
    expected = corr.weakest_node_weights({k[4:]: v for k, v in last.items() if k.startswith("iia/")})
    assert np.allclose(result.pair.hl_node_weights, expected)


def test_manifest_training_time_sums_and_medians_the_stored_seconds():
    from circuits_benchmark.training.manifest import training_time

    rows = [{"seconds": s, "passed": p} for s, p in ((3600.0, True), (1800.0, False), (7200.0, True))]
    line = training_time(rows)
    assert "3.5 h in all" in line and "median 3600 s per model" in line and "(5400 s for the models that pass)" in line
    assert training_time([]) == "No model is stored."
