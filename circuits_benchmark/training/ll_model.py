"""The low-level (LL) model: a fresh HookedTransformer shaped like the Tracr model but narrower."""

from __future__ import annotations

from typing import Optional

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

DEFAULT_D_MODEL = 32


def make_ll_config(
    hl_cfg: HookedTransformerConfig,
    d_model: Optional[int] = None,
    d_head: Optional[int] = None,
    d_mlp: Optional[int] = None,
    n_heads: Optional[int] = None,
    act_fn: str = "gelu",
    normalization_type: Optional[str] = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> HookedTransformerConfig:
    """LL config: the HL model's layers, heads, context, vocabularies and attention direction.

    `d_model` defaults to 32, `d_head` to `max(1, d_model // n_heads)`, `d_mlp` to `4 * d_model`,
    `n_heads` to the HL model's (more heads only add non-circuit nodes). GELU as in InterpBench;
    no LayerNorm unless `normalization_type` ("LN") is given.
    """
    d_model = d_model or DEFAULT_D_MODEL
    n_heads = n_heads or hl_cfg.n_heads
    if n_heads < hl_cfg.n_heads:
        raise ValueError(f"the LL model needs at least the HL model's {hl_cfg.n_heads} heads, got {n_heads}")
    return HookedTransformerConfig(
        n_layers=hl_cfg.n_layers,
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
