"""The low-level (LL) model: a fresh HookedTransformer shaped as InterpBench shapes it.

InterpBench (upstream `utils/iit/ll_cfg.py`) derives the LL config from the Tracr (HL) config:
at least 2 layers and 4 heads, so every model has heads and MLPs outside its circuit;
`d_head = max(1, hl.d_head // r)` and `d_model = n_heads * d_head`, or, for the cases with a
compressed residual stream, `d_model = max(2, hl.d_model // r)` and `d_head = max(1, d_model // n_heads)`;
always `d_mlp = 4 * d_model`, GELU, seed 0. `r` is a per-case compression ratio (2 by default).
HL nodes keep their layer and head index in the LL model, except for the overrides below.
"""

from __future__ import annotations

from typing import Optional

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.tracr_compat.alignment import Component, TracrAlignment

MIN_LAYERS, MIN_HEADS = 2, 4
DEFAULT_COMPRESSION = 2.0
COMPRESSION_RATIOS: dict[str, float] = {
    "5": 1.8, "6": 1.2, "7": 1.5, "9": 2, "18": 1.6, "21": 1.3, "23": 1.5, "24": 1.2, "25": 1.5,
    "34": 1.5, "35": 3, "36": 2.5, "37": 2.2,
}
RESID_COMPRESSED_CASES = frozenset(
    {"5", "7", "9", "18", "21", "22", "23", "25", "26", "28", "29", "34", "35", "36", "37"}
)
PLACEMENT_OVERRIDES: dict[str, dict[str, tuple[Component, ...]]] = {
    "3": {"is_x": (Component("mlp", 0),), "frac_prevs": (Component("head", 1, 2),)},
}
"""case id -> RASP node name -> the LL components that compute it (InterpBench's correspondence overrides)."""


def interp_bench_shape(hl_cfg: HookedTransformerConfig, case_id: str, same_size: bool = False) -> dict[str, int]:
    """n_layers, n_heads, d_model, d_head, d_mlp of InterpBench's LL model for a case.

    `same_size` keeps the Tracr model's layers and heads (InterpBench's `--same-size`; the residual
    stream is still compressed).
    """
    ratio = COMPRESSION_RATIOS.get(str(case_id), DEFAULT_COMPRESSION)
    n_heads = hl_cfg.n_heads if same_size else max(MIN_HEADS, hl_cfg.n_heads)
    if same_size or str(case_id) in RESID_COMPRESSED_CASES:
        d_model = max(2, int(hl_cfg.d_model // ratio))
        d_head = max(1, d_model // n_heads)
    else:
        d_head = max(1, int(hl_cfg.d_head // ratio))
        d_model = n_heads * d_head
    n_layers = hl_cfg.n_layers if same_size else max(MIN_LAYERS, hl_cfg.n_layers)
    return {"n_layers": n_layers, "n_heads": n_heads, "d_model": d_model, "d_head": d_head, "d_mlp": 4 * d_model}


def make_ll_config(
    hl_cfg: HookedTransformerConfig,
    case_id: str = "",
    same_size: bool = False,
    d_model: Optional[int] = None,
    d_head: Optional[int] = None,
    d_mlp: Optional[int] = None,
    n_heads: Optional[int] = None,
    n_layers: Optional[int] = None,
    act_fn: str = "gelu",
    normalization_type: Optional[str] = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> HookedTransformerConfig:
    """LL config: InterpBench's shape for `case_id` (see the module docstring), any dimension overridable.

    Context, vocabularies and attention direction are the HL model's. `d_head` defaults to
    `max(1, d_model // n_heads)` and `d_mlp` to `4 * d_model` when `d_model` is given. No LayerNorm
    unless `normalization_type` ("LN") is given (Tracr models have none).
    """
    shape = interp_bench_shape(hl_cfg, case_id, same_size)
    n_heads = n_heads or shape["n_heads"]
    n_layers = n_layers or shape["n_layers"]
    if n_heads < hl_cfg.n_heads or n_layers < hl_cfg.n_layers:
        raise ValueError(f"the LL model needs at least the HL model's {hl_cfg.n_layers} layers and "
                         f"{hl_cfg.n_heads} heads, got {n_layers} layers and {n_heads} heads")
    if d_model is None:
        d_model, d_head = shape["d_model"], d_head or shape["d_head"]
        d_mlp = d_mlp or shape["d_mlp"]
    return HookedTransformerConfig(
        n_layers=n_layers,
        d_model=d_model,
        d_head=d_head or max(1, d_model // n_heads),
        n_heads=n_heads,
        d_mlp=d_mlp or 4 * d_model,
        d_vocab=hl_cfg.d_vocab,
        d_vocab_out=hl_cfg.d_vocab_out,
        n_ctx=hl_cfg.n_ctx,
        act_fn=act_fn,
        normalization_type=normalization_type,
        attention_dir=hl_cfg.attention_dir,
        positional_embedding_type="standard",
        default_prepend_bos=False,
        use_attn_result=True,
        use_split_qkv_input=True,
        use_hook_mlp_in=True,
        seed=seed,
        device=str(device),
        dtype=torch.float32,
    )


def ll_alignment(alignment: TracrAlignment, case_id: str, same_size: bool = False) -> TracrAlignment:
    """The HL alignment moved onto the LL model: InterpBench's placement overrides applied.

    With `same_size` the correspondence is the identity (InterpBench's `make_identity_corr`).
    """
    overrides = {} if same_size else PLACEMENT_OVERRIDES.get(str(case_id), {})
    placement = {}
    for label, name in alignment.rasp_names.items():
        if name in overrides:
            placement[label] = list(overrides[name])
    missing = set(overrides) - {alignment.rasp_names[label] for label in placement}
    if missing:
        raise ValueError(f"case {case_id}: placement overrides name RASP nodes {sorted(missing)} "
                         f"that the program does not have")
    return alignment.moved(placement) if placement else alignment


def build_ll_model(cfg: HookedTransformerConfig, device: str | torch.device = "cpu") -> HookedTransformer:
    """A HookedTransformer with fresh random weights (seeded by `cfg.seed`) and the hooks training needs."""
    cfg.use_attn_result = True
    cfg.use_split_qkv_input = True
    cfg.use_hook_mlp_in = True
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    model = HookedTransformer(cfg, move_to_device=False)
    model.to(device, print_details=False)
    return model
