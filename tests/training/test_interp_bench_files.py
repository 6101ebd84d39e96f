"""InterpBench's published files load: TL 1.19 pickled config objects, 1.19 state dicts, upstream's edges.pkl.

Files are built byte for byte in upstream's layout and formats (no network, no TL 1.19 import).
"""

import pickle
import shutil

import numpy as np
import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.models import ModelLoadError, load_checkpoint_model
from circuits_benchmark.tracr_compat.alignment import CircuitEdge, Component
from circuits_benchmark.tracr_compat.hook_edges import from_hook_edges, parse_mib_edge, to_hook_edges
from circuits_benchmark.training import load_interp_bench_model, load_ll_model
from circuits_benchmark.training.store import ConfigFileError, read_cfg_file

# The fields of TransformerLens v1.19.0's HookedTransformerConfig dataclass, in order (its pickled __dict__).
TL119_FIELDS = (
    "n_layers d_model n_ctx d_head model_name n_heads d_mlp act_fn d_vocab eps use_attn_result use_attn_scale "
    "use_split_qkv_input use_hook_mlp_in use_attn_in use_local_attn original_architecture from_checkpoint "
    "checkpoint_index checkpoint_label_type checkpoint_value tokenizer_name window_size attn_types init_mode "
    "normalization_type device n_devices attention_dir attn_only seed initializer_range init_weights "
    "scale_attn_by_inverse_layer_idx positional_embedding_type final_rms d_vocab_out parallel_attn_mlp rotary_dim "
    "n_params use_hook_tokens gated_mlp default_prepend_bos dtype tokenizer_prepends_bos n_key_value_heads "
    "post_embedding_ln rotary_base trust_remote_code rotary_adjacent_pairs num_experts experts_per_token"
).split()

# Upstream's edges.pkl for case 3 as published (shown in upstream's DEMO_InterpBench.ipynb), verbatim.
UPSTREAM_EDGES = [
    ("blocks.1.attn.hook_result[2]", "blocks.1.hook_resid_post"),
    ("blocks.0.hook_mlp_out", "blocks.1.hook_q_input[2]"),
    ("blocks.0.hook_mlp_out", "blocks.1.hook_k_input[2]"),
    ("blocks.0.hook_mlp_out", "blocks.1.hook_v_input[2]"),
    ("hook_embed", "blocks.0.hook_mlp_in"),
    ("hook_pos_embed", "blocks.1.hook_q_input[2]"),
    ("hook_pos_embed", "blocks.1.hook_k_input[2]"),
    ("hook_pos_embed", "blocks.1.hook_v_input[2]"),
    ("blocks.1.hook_q_input[2]", "blocks.1.attn.hook_q[2]"),
    ("blocks.1.hook_k_input[2]", "blocks.1.attn.hook_k[2]"),
    ("blocks.1.hook_v_input[2]", "blocks.1.attn.hook_v[2]"),
]
UPSTREAM_MIB = sorted(["a1.h2->logits", "input->m0"] + [f"{p}->a1.h2<{r}>" for p in ("m0", "input") for r in "qkv"])


@pytest.fixture(scope="module")
def model():
    """An LL model shaped like InterpBench's for case 3 (2 layers, 4 heads, no LayerNorm, GELU)."""
    torch.manual_seed(3)
    cfg = HookedTransformerConfig(n_layers=2, d_model=16, d_head=4, n_heads=4, d_mlp=64, d_vocab=6, d_vocab_out=1,
                                  n_ctx=5, act_fn="gelu", attention_dir="causal", normalization_type=None,
                                  default_prepend_bos=False, use_attn_result=True, use_split_qkv_input=True,
                                  use_hook_mlp_in=True, seed=3, device="cpu")
    return HookedTransformer(cfg).eval()


def _tokens():
    return torch.randint(0, 6, (4, 5), generator=torch.Generator().manual_seed(0))


def tl119_cfg_pickle(state: dict) -> bytes:
    """A pickled TL 1.19 HookedTransformerConfig object: protocol 2, class global, NEWOBJ, BUILD with `state`."""
    body = pickle.dumps(state, protocol=2)
    assert body[:2] == b"\x80\x02" and body[-1:] == b"."
    return (b"\x80\x02" + b"ctransformer_lens.HookedTransformerConfig\nHookedTransformerConfig\n" + b")\x81"
            + body[2:-1] + b"b.")


def tl119_cfg_state(model) -> dict:
    """The __dict__ of the model's config as TL 1.19 had it after __post_init__ on a GPU machine."""
    state = {name: getattr(model.cfg, name) for name in TL119_FIELDS}
    state.update(device=torch.device("cuda"), dtype=torch.float32,
                 initializer_range=np.float64(0.8 / np.sqrt(model.cfg.d_model)), n_params=12345)
    # v1.19's dataclass has no field TL 3.9 lacks (checked against the v1.19.0 source); this key stands for the
    # fields of other versions, which must be dropped too
    state["a_field_tl3_does_not_know"] = "dropped"
    return state


def tl119_state_dict(model) -> dict:
    """The model's weights with TL 1.19's attention buffers: a causal [n_ctx, n_ctx] mask and IGNORE = -inf."""
    n_ctx = model.cfg.n_ctx
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for layer in range(model.cfg.n_layers):
        state[f"blocks.{layer}.attn.mask"] = torch.tril(torch.ones((n_ctx, n_ctx))).bool()
        state[f"blocks.{layer}.attn.IGNORE"] = torch.tensor(-torch.inf)
    return state


def write_upstream_case(folder, model, run=""):
    """`{folder}/ll_model{run}.pth`, `ll_model_cfg{run}.pkl` (1.19 object), `meta{run}.json`, `edges.pkl` (tuples)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(tl119_state_dict(model), folder / f"ll_model{run}.pth")
    (folder / f"ll_model_cfg{run}.pkl").write_bytes(tl119_cfg_pickle(tl119_cfg_state(model)))
    (folder / f"meta{run}.json").write_text('{"iit_weight": 1.0, "strict_weight": 0.4}')
    with open(folder / "edges.pkl", "wb") as f:
        pickle.dump(UPSTREAM_EDGES, f)
    return folder


def test_tl119_config_object_pickle_loads(tmp_path, model):
    path = tmp_path / "ll_model_cfg.pkl"
    path.write_bytes(tl119_cfg_pickle(tl119_cfg_state(model)))
    cfg = read_cfg_file(path)
    assert isinstance(cfg, HookedTransformerConfig)
    for name in ("n_layers", "d_model", "d_head", "n_heads", "d_mlp", "d_vocab", "d_vocab_out", "n_ctx", "act_fn",
                 "attention_dir", "normalization_type", "use_attn_result", "use_split_qkv_input"):
        assert getattr(cfg, name) == getattr(model.cfg, name), name
    assert cfg.dtype == torch.float32 and not hasattr(cfg, "a_field_tl3_does_not_know")


@pytest.mark.parametrize("run", ["", "510"])
def test_store_loads_upstream_layout(tmp_path, model, run):
    write_upstream_case(tmp_path / "3", model, f"_{run}" if run else "")
    stored = load_ll_model("3", run or None, tmp_path, device="cpu")
    assert torch.equal(stored.model(_tokens()), model(_tokens()))
    assert stored.meta["strict_weight"] == 0.4
    assert stored.edges == UPSTREAM_MIB


def test_hub_loader_reads_upstream_files(tmp_path, model):
    write_upstream_case(tmp_path / "hub" / "3", model)

    def download(repo_id, filename, subfolder=None, cache_dir=None):
        src = tmp_path / "hub" / subfolder / filename
        if not src.exists():
            raise FileNotFoundError(src)
        dst = tmp_path / "cache" / subfolder / filename
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
        return str(dst)

    stored = load_interp_bench_model("3", download=download, device="cpu")
    assert torch.equal(stored.model(_tokens()), model(_tokens()))
    assert stored.edges == UPSTREAM_MIB and stored.meta["iit_weight"] == 1.0


def test_checkpoint_loader_reads_upstream_files(tmp_path, model):
    folder = write_upstream_case(tmp_path / "3", model)
    loaded = load_checkpoint_model(folder / "ll_model.pth", folder / "ll_model_cfg.pkl")
    assert torch.equal(loaded(_tokens()), model(_tokens()))
    with open(folder / "ll_model_cfg_dict.pkl", "wb") as f:  # the dict form upstream's trainer writes
        pickle.dump(model.cfg.to_dict(), f)
    assert torch.equal(load_checkpoint_model(folder / "ll_model.pth", folder / "ll_model_cfg_dict.pkl")(_tokens()),
                       model(_tokens()))


def test_real_unknown_keys_and_shapes_are_still_refused(tmp_path, model):
    folder = write_upstream_case(tmp_path / "3", model)
    state = tl119_state_dict(model)
    state["blocks.0.attn.W_extra"] = torch.zeros(3)
    torch.save(state, folder / "ll_model.pth")
    with pytest.raises(ModelLoadError, match=r"unknown keys \['blocks.0.attn.W_extra'\]"):
        load_checkpoint_model(folder / "ll_model.pth", folder / "ll_model_cfg.pkl")
    with pytest.raises(ValueError, match="unknown keys"):
        load_ll_model("3", None, tmp_path)
    state = tl119_state_dict(model)
    state["blocks.1.attn.W_Q"] = torch.zeros(1, 16, 3)
    torch.save(state, folder / "ll_model.pth")
    with pytest.raises(ValueError, match="shape mismatches .*blocks.1.attn.W_Q"):
        load_ll_model("3", None, tmp_path)
    with pytest.raises(ModelLoadError, match=r"shape mismatches \['blocks.1.attn.W_Q: checkpoint \(1, 16, 3\)"):
        load_checkpoint_model(folder / "ll_model.pth", folder / "ll_model_cfg.pkl")


def test_config_errors_are_clear(tmp_path, model):
    folder = write_upstream_case(tmp_path / "3", model)
    weights = folder / "ll_model.pth"
    evil = folder / "evil.pkl"  # os.system("echo"): refused before anything runs
    evil.write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.")
    with pytest.raises(ModelLoadError, match="class os.system"):
        load_checkpoint_model(weights, evil)
    shutil.copy(evil, folder / "ll_model_cfg.pkl")
    with pytest.raises(ConfigFileError, match="class os.system"):
        load_ll_model("3", None, tmp_path)
    text = folder / "cfg.txt"
    text.write_text("{}")
    with pytest.raises(ModelLoadError, match=r"must be a \.pkl .* or a \.json"):
        load_checkpoint_model(weights, text)
    listed = folder / "list.pkl"
    listed.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ModelLoadError, match="holds a list; expected HookedTransformerConfig fields"):
        load_checkpoint_model(weights, listed)
    broken = folder / "broken.pkl"
    broken.write_bytes(b"\x80\x02}q")
    with pytest.raises(ModelLoadError, match="not a readable pickle"):
        load_checkpoint_model(weights, broken)


def test_edges_pkl_with_unknown_hook_is_a_clear_error(tmp_path, model):
    folder = write_upstream_case(tmp_path / "3", model)
    with open(folder / "edges.pkl", "wb") as f:
        pickle.dump(UPSTREAM_EDGES + [("blocks.0.hook_resid_mid", "blocks.1.hook_mlp_in")], f)
    with pytest.raises(ValueError, match="blocks.0.hook_resid_mid"):
        load_ll_model("3", None, tmp_path)


def test_hook_edges_round_trip_on_a_compiled_case(case3):
    edges = case3.alignment.edges
    hook_edges = to_hook_edges(edges, case3.model.cfg.n_layers)
    assert hook_edges == sorted(set(hook_edges))
    assert from_hook_edges(hook_edges) == sorted({e.mib_name for e in edges}) == case3.alignment.mib_edges("zero")
    assert from_hook_edges(hook_edges, n_layers=case3.model.cfg.n_layers) == from_hook_edges(hook_edges)


def test_to_hook_edges_emits_upstream_kinds():
    head, mlp = Component("head", 1, 0), Component("mlp", 0)
    edges = [CircuitEdge(Component("embed"), mlp), CircuitEdge(mlp, head, "v"), CircuitEdge(head, Component("logits"))]
    hook_edges = to_hook_edges(edges, n_layers=2)
    assert ("hook_embed", "blocks.0.hook_mlp_in") in hook_edges
    assert ("blocks.0.hook_mlp_out", "blocks.1.hook_v_input[0]") in hook_edges
    assert ("blocks.1.attn.hook_result[0]", "blocks.1.hook_resid_post") in hook_edges
    assert ("blocks.0.hook_mlp_in", "blocks.0.hook_mlp_out") in hook_edges
    for r in "qkv":  # upstream's builder adds every role's inside edges to every head
        assert (f"blocks.1.hook_{r}_input[0]", f"blocks.1.attn.hook_{r}[0]") in hook_edges
        assert (f"blocks.1.attn.hook_{r}[0]", "blocks.1.attn.hook_result[0]") in hook_edges
    assert len(hook_edges) == 3 + 1 + 6
    assert from_hook_edges(hook_edges) == ["a1.h0->logits", "input->m0", "m0->a1.h0<v>"]
    with pytest.raises(ValueError, match="q/k/v role"):
        to_hook_edges([CircuitEdge(mlp, head)], n_layers=2)


def test_from_hook_edges_reads_other_upstream_forms():
    assert from_hook_edges(UPSTREAM_EDGES) == UPSTREAM_MIB
    sp_hooks = [("blocks.0.hook_resid_pre", "blocks.0.hook_k_input[1]"),
                ("blocks.0.hook_k_input[1]", "blocks.0.attn.hook_result[1]")]
    assert from_hook_edges(sp_hooks) == ["input->a0.h1<k>"]
    with pytest.raises(ValueError, match="not a circuit node"):
        from_hook_edges([("blocks.0.hook_mlp_out", "blocks.0.hook_resid_post")], n_layers=2)
    with pytest.raises(ValueError, match="blocks.0.attn.hook_z"):
        from_hook_edges([("blocks.0.attn.hook_z[0]", "blocks.0.hook_mlp_in")])
    with pytest.raises(ValueError, match="not a .parent hook, child hook. pair"):
        from_hook_edges(["input->m0"])


def test_parse_mib_edge():
    assert parse_mib_edge("input->a1.h2<q>") == CircuitEdge(Component("embed"), Component("head", 1, 2), "q")
    assert parse_mib_edge("a0.h1->m1").mib_name == "a0.h1->m1"
    assert parse_mib_edge("m1->logits").child == Component("logits")
    with pytest.raises(ValueError, match="unknown node"):
        parse_mib_edge("x0->m1")
