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
from circuits_benchmark.tracr_compat.alignment import CircuitEdge, Component
from circuits_benchmark.training.store import HUB_REPO, cfg_to_dict

EDGES = [CircuitEdge(Component("embed"), Component("mlp", 0)),
         CircuitEdge(Component("head", 1, 0), Component("logits"))]


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
    assert (cfg.n_layers, cfg.n_ctx, cfg.d_vocab, cfg.d_vocab_out) == (2, 5, 6, 1)
    assert cfg.attention_dir == "causal" and cfg.normalization_type is None
    assert (cfg.d_model, cfg.d_head, cfg.d_mlp) == (24, 6, 96)
    assert cfg.use_attn_result and cfg.use_split_qkv_input and cfg.use_hook_mlp_in
    with pytest.raises(ValueError, match="at least"):
        make_ll_config(_hl_cfg(), n_heads=1, n_layers=1)


def test_ll_config_has_interp_bench_shape():
    hl = _hl_cfg()  # 2 layers x 1 head, d_model 13, d_head 6
    cfg = make_ll_config(hl, case_id="3")
    # at least 2 layers and 4 heads; d_head = 6 // 2, d_model = 4 * 3, d_mlp = 4 * d_model
    assert (cfg.n_layers, cfg.n_heads, cfg.d_head, cfg.d_model, cfg.d_mlp) == (2, 4, 3, 12, 48)
    # case 5 compresses the residual stream by 1.8: d_model = 13 // 1.8 = 7, d_head = 7 // 4 = 1
    cfg = make_ll_config(hl, case_id="5")
    assert (cfg.n_heads, cfg.d_model, cfg.d_head, cfg.d_mlp) == (4, 7, 1, 28)
    same = make_ll_config(hl, case_id="3", same_size=True)
    assert (same.n_layers, same.n_heads, same.d_model) == (2, 1, 6)


def test_ll_weights_are_seeded():
    a = build_ll_model(make_ll_config(_hl_cfg(), seed=7))
    b = build_ll_model(make_ll_config(_hl_cfg(), seed=7))
    c = build_ll_model(make_ll_config(_hl_cfg(), seed=8))
    x = _tokens()
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_store_round_trip(tmp_path, model):
    folder = save_ll_model(model, "3", "510", tmp_path, meta={"lr": 0.001}, edges=EDGES)
    assert folder == tmp_path / "3"
    names = {p.name for p in folder.iterdir()}
    assert names == {"ll_model_510.pth", "ll_model_cfg_510.pkl", "ll_model_cfg_510.json", "meta_510.json",
                     "edges.pkl", "edges.json"}  # no temporary files left behind
    with open(folder / "ll_model_cfg_510.pkl", "rb") as f:
        assert isinstance(pickle.load(f), dict)
    with open(folder / "edges.pkl", "rb") as f:  # upstream's format: hook-name pairs
        hook_edges = pickle.load(f)
    assert ("hook_embed", "blocks.0.hook_mlp_in") in hook_edges
    assert ("blocks.1.attn.hook_result[0]", "blocks.1.hook_resid_post") in hook_edges
    assert json.loads((folder / "edges.json").read_text()) == ["a1.h0->logits", "input->m0"]
    stored = load_ll_model("3", "510", tmp_path, device="cpu")
    x = _tokens()
    assert torch.equal(stored.model(x), model(x))
    assert stored.meta == {"lr": 0.001}
    assert stored.edges == ["a1.h0->logits", "input->m0"]
    assert stored.cfg.d_model == 16
    (folder / "edges.json").unlink()
    assert load_ll_model("3", "510", tmp_path).edges == ["a1.h0->logits", "input->m0"]


def test_store_still_takes_mib_names(tmp_path, model):
    folder = save_ll_model(model, "3", "510", tmp_path, edges=["input->m0", "a1.h0->logits"])
    assert json.loads((folder / "edges.json").read_text()) == ["a1.h0->logits", "input->m0"]
    (folder / "edges.json").unlink()
    assert load_ll_model("3", "510", tmp_path).edges == ["a1.h0->logits", "input->m0"]


def test_store_reads_an_edges_pkl_of_mib_names(tmp_path, model):
    folder = save_ll_model(model, "3", "510", tmp_path)
    with open(folder / "edges.pkl", "wb") as f:
        pickle.dump(["input->m0"], f)
    assert load_ll_model("3", "510", tmp_path).edges == ["input->m0"]


def test_failed_write_leaves_no_partial_file(tmp_path, model, monkeypatch):
    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_ll_model(model, "3", "510", tmp_path)
    assert list((tmp_path / "3").iterdir()) == []


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
            pickle.dump([("hook_embed", "blocks.0.hook_mlp_in"), ("blocks.0.hook_mlp_in", "blocks.0.hook_mlp_out")], f)
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
    assert stored.meta == {"iit_weight": 1.0} and stored.edges == ["input->m0"]
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
