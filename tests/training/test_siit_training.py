"""Training runs end to end, improves IIA, respects the model pair, and stores its result."""

import pytest
import torch

from circuits_benchmark.training import TrainConfig, evaluate_model, load_ll_model, save_result, train


def _quick(**kw):
    base = dict(epochs=3, n_train=512, n_test=128, batch_size=64, lr=3e-3, seed=0, device="cpu", early_stop=False)
    base.update(kw)
    return TrainConfig(**base)


def test_short_training_improves_iia(case3):
    before = evaluate_model("3", train("3", _quick(epochs=0), compiled=case3, progress=False).ll_model,
                            n=128, seed=1, compiled=case3)
    result = train("3", _quick(epochs=5), compiled=case3, progress=False)
    assert result.epochs_run == 5 and len(result.history) == 5
    after = result.final_metrics
    assert after["iia"] > before["iia"] + 0.2
    assert {"iit_loss", "strict_loss", "behavior_loss", "iia", "strict_accuracy", "accuracy"} <= set(after)
    assert after["iit_loss"] > 0 and after["strict_loss"] > 0 and after["behavior_loss"] > 0


@pytest.mark.parametrize("pair, active", [("iit", {"iit_loss", "behavior_loss"}), ("behavior", {"behavior_loss"})])
def test_model_pairs_use_their_losses(case3, pair, active):
    result = train("3", _quick(epochs=1, n_train=128, model_pair=pair), compiled=case3, progress=False)
    losses = {k for k in ("iit_loss", "strict_loss", "behavior_loss") if result.final_metrics[k] > 0}
    assert losses == active


def test_training_is_reproducible(case3):
    a = train("3", _quick(epochs=1, n_train=128), compiled=case3, progress=False)
    b = train("3", _quick(epochs=1, n_train=128), compiled=case3, progress=False)
    assert a.final_metrics["iia"] == b.final_metrics["iia"]
    for (k, x), (_, y) in zip(a.ll_model.state_dict().items(), b.ll_model.state_dict().items()):
        assert torch.equal(x, y), k


def test_early_stop_and_time_limit(case3):
    # threshold 0: the first epoch satisfies it
    result = train("3", _quick(epochs=5, n_train=128, early_stop=True, early_stop_threshold=0.0), compiled=case3, progress=False)
    assert result.stopped_early and result.epochs_run == 1
    result = train("3", _quick(epochs=5, n_train=128, max_seconds=0.0), compiled=case3, progress=False)
    assert not result.stopped_early and result.epochs_run == 1


def test_config_validation():
    with pytest.raises(ValueError):
        TrainConfig(model_pair="freeze")
    with pytest.raises(ValueError):
        TrainConfig(iit_weight=0, strict_weight=0, behavior_weight=0)
    with pytest.raises(ValueError, match="offline"):
        TrainConfig(wandb=True, wandb_mode="online")
    assert TrainConfig(model_pair="iit").effective_weights() == (1.0, 0.0, 1.0)
    assert TrainConfig(model_pair="behavior").effective_weights() == (0.0, 0.0, 1.0)


def test_cuda_is_refused_without_cuda(case3):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA"):
        train("3", _quick(device="cuda"), compiled=case3, progress=False)


def test_save_result_writes_meta_and_true_edges(case3, tmp_path):
    result = train("3", _quick(epochs=1, n_train=128), compiled=case3, progress=False)
    folder = save_result(result, tmp_path)
    stored = load_ll_model("3", "510", tmp_path)
    assert folder == tmp_path / "3"
    # the model has InterpBench's shape, where case 3's frac_prevs lives in head a1.h2
    assert stored.edges == case3.alignment_for(result.ll_model).mib_edges() != case3.alignment.mib_edges()
    assert "a1.h2->logits" in stored.edges
    assert stored.meta["gate"] is None and stored.meta["ll_shape"]["n_heads"] == 4
    assert stored.meta["training_args"]["strict_weight"] == 0.4 and stored.meta["epochs_run"] == 1
    x = case3.tokens([["x", "a", "x", "b"]])
    mask = case3.encoding.attention_mask(x)
    assert torch.equal(stored.model(x, attention_mask=mask), result.ll_model(x, attention_mask=mask))


@pytest.mark.slow
def test_wandb_offline_logging(case3, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = train("3", _quick(epochs=1, wandb=True), compiled=case3, progress=False, wandb_dir=str(tmp_path))
    assert result.epochs_run == 1
    assert any((tmp_path / "wandb").glob("offline-run-*"))


@pytest.mark.slow
def test_siit_training_reaches_full_iia_on_case3(case3):
    config = TrainConfig(epochs=80, n_train=4000, n_test=500, seed=0, device="cpu")
    result = train("3", config, compiled=case3, progress=False)
    m = result.final_metrics
    assert m["iia"] >= 0.99 and m["strict_accuracy"] >= 0.99 and m["accuracy"] >= 0.99
