"""The model store round-trips, and the hub loader reads InterpBench's layout (download mocked, no network)."""

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from transformer_lens import HookedTransformerConfig

from circuits_benchmark.training import (
    TrainConfig,
    build_ll_model,
    load_interp_bench_model,
    load_ll_model,
    make_ll_config,
    save_ll_model,
)
from circuits_benchmark.training.store import HUB_REPO, cfg_to_dict


def _hl_cfg():
    return HookedTransformerConfig(
        n_layers=2, d_model=13, d_head=6, n_heads=1, d_mlp=6, d_vocab=6, d_vocab_out=1, n_ctx=5,
        act_fn="relu", attention_dir="causal",
    )


@pytest.fixture
def model():
    return build_ll_model(make_ll_config(_hl_cfg(), d_model=16, seed=3))


def _tokens():
    return torch.randint(0, 6, (4, 5), generator=torch.Generator().manual_seed(0))


def test_ll_config_follows_the_hl_model():
    cfg = make_ll_config(_hl_cfg(), d_model=24, seed=1)
    assert (cfg.n_layers, cfg.n_heads, cfg.n_ctx, cfg.d_vocab, cfg.d_vocab_out) == (2, 1, 5, 6, 1)
    assert cfg.attention_dir == "causal" and cfg.normalization_type is None
    assert (cfg.d_model, cfg.d_head, cfg.d_mlp) == (24, 24, 96)
    assert cfg.use_attn_result and cfg.use_split_qkv_input and cfg.use_hook_mlp_in
    two_heads = _hl_cfg()
    two_heads.n_heads = 2
    assert make_ll_config(two_heads).n_heads == 2
    with pytest.raises(ValueError, match="at least"):
        make_ll_config(two_heads, n_heads=1)


def test_ll_weights_are_seeded():
    a = build_ll_model(make_ll_config(_hl_cfg(), seed=7))
    b = build_ll_model(make_ll_config(_hl_cfg(), seed=7))
    c = build_ll_model(make_ll_config(_hl_cfg(), seed=8))
    x = _tokens()
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_store_round_trip(tmp_path, model):
    folder = save_ll_model(model, "3", "510", tmp_path, meta={"lr": 0.001}, edges=["input->m0", "a1.h0->logits"])
    assert folder == tmp_path / "3"
    names = {p.name for p in folder.iterdir()}
    assert {"ll_model_510.pth", "ll_model_cfg_510.pkl", "ll_model_cfg_510.json", "meta_510.json",
            "edges.pkl", "edges.json"} <= names
    with open(folder / "ll_model_cfg_510.pkl", "rb") as f:
        assert isinstance(pickle.load(f), dict)
    stored = load_ll_model("3", "510", tmp_path, device="cpu")
    x = _tokens()
    assert torch.equal(stored.model(x), model(x))
    assert stored.meta == {"lr": 0.001}
    assert stored.edges == ["input->m0", "a1.h0->logits"]
    assert stored.cfg.d_model == 16


def test_load_from_json_config_only(tmp_path, model):
    folder = save_ll_model(model, "3", "7", tmp_path)
    (folder / "ll_model_cfg_7.pkl").unlink()
    assert torch.equal(load_ll_model("3", "7", tmp_path).model(_tokens()), model(_tokens()))


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="ll_model_510.pth"):
        load_ll_model("3", "510", tmp_path)


def _fake_hub(tmp_path, model, cfg_as_object=False, with_extras=True):
    """A local folder laid out like the hub repo, and a download function serving from it."""
    hub = tmp_path / "hub" / "3"
    hub.mkdir(parents=True)
    torch.save(model.state_dict(), hub / "ll_model.pth")
    with open(hub / "ll_model_cfg.pkl", "wb") as f:
        pickle.dump(model.cfg if cfg_as_object else cfg_to_dict(model.cfg), f)
    if with_extras:
        (hub / "meta.json").write_text(json.dumps({"iit_weight": 1.0}))
        with open(hub / "edges.pkl", "wb") as f:
            pickle.dump([("a", "b")], f)
    calls = []

    def download(repo_id, filename, subfolder=None, cache_dir=None):
        calls.append((repo_id, subfolder, filename))
        src = tmp_path / "hub" / subfolder / filename
        if not src.exists():
            raise FileNotFoundError(src)  # what hf_hub_download raises for a missing entry, roughly
        dst = tmp_path / "cache" / subfolder / filename
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
        return str(dst)

    return download, calls


@pytest.mark.parametrize("cfg_as_object", [False, True])
def test_hub_loader_on_a_fake_layout(tmp_path, model, cfg_as_object):
    download, calls = _fake_hub(tmp_path, model, cfg_as_object)
    stored = load_interp_bench_model("3", download=download, device="cpu")
    assert torch.equal(stored.model(_tokens()), model(_tokens()))
    assert stored.meta == {"iit_weight": 1.0} and stored.edges == [("a", "b")]
    assert ("cybershiptrooper/InterpBench", "3", "ll_model.pth") in calls and HUB_REPO == calls[0][0]


def test_hub_loader_without_meta_and_edges(tmp_path, model):
    download, _ = _fake_hub(tmp_path, model, with_extras=False)
    stored = load_interp_bench_model("3", download=download)
    assert stored.meta == {} and stored.edges == []


def test_hub_loader_missing_case(tmp_path, model):
    download, _ = _fake_hub(tmp_path, model)
    with pytest.raises(FileNotFoundError, match="99/ll_model.pth"):
        load_interp_bench_model("99", download=download)


def test_hub_loader_defaults_to_hf_hub_download(monkeypatch, tmp_path, model):
    download, calls = _fake_hub(tmp_path, model)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    load_interp_bench_model("3")
    assert calls


def test_run_name_is_interp_bench_weight_id():
    assert TrainConfig().run_name() == "510"
    assert TrainConfig(model_pair="iit").run_name() == "110"
    assert TrainConfig(model_pair="behavior").run_name() == "100"
