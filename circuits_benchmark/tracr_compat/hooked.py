"""Convert a Tracr-compiled model into an equivalent TransformerLens `HookedTransformer`."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from einops import rearrange
from tracr.compiler import nodes
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.tracr_compat.compile import TracrCompilation
from circuits_benchmark.tracr_compat.encoding import TracrEncoding


def tracr_config(compilation: TracrCompilation, device: str = "cpu") -> HookedTransformerConfig:
    """The TransformerLens config matching Tracr's architecture (no LayerNorm, ReLU MLPs)."""
    tracr_cfg = compilation.model.model_config
    params = compilation.model.params
    d_model = params["token_embed"]["embeddings"].shape[1]
    return HookedTransformerConfig(
        n_layers=tracr_cfg.num_layers,
        d_model=d_model,
        d_head=tracr_cfg.key_size,
        n_heads=tracr_cfg.num_heads,
        d_mlp=tracr_cfg.mlp_hidden_size,
        d_vocab=params["token_embed"]["embeddings"].shape[0],
        d_vocab_out=len(_output_directions(compilation)),
        n_ctx=params["pos_embed"]["embeddings"].shape[0],
        act_fn="relu",
        normalization_type=None,
        attention_dir="causal" if tracr_cfg.causal else "bidirectional",
        positional_embedding_type="standard",
        default_prepend_bos=False,
        device=device,
        dtype=torch.float32,
    )


def _output_directions(compilation: TracrCompilation) -> list[str]:
    """Residual labels of the output space, in the order of the output encoder."""
    return [str(d) for d in compilation.sink[nodes.OUTPUT_BASIS]]


def tracr_state_dict(compilation: TracrCompilation, cfg: HookedTransformerConfig) -> dict[str, torch.Tensor]:
    """TransformerLens weights equal to Tracr's parameters."""
    params = compilation.model.params
    n_heads = cfg.n_heads

    def t(x: Any) -> torch.Tensor:
        return torch.tensor(np.asarray(x), dtype=cfg.dtype)

    state = {
        "embed.W_E": t(params["token_embed"]["embeddings"]),
        "pos_embed.W_pos": t(params["pos_embed"]["embeddings"]),
    }
    for layer in range(cfg.n_layers):
        attn = f"transformer/layer_{layer}/attn"
        mlp = f"transformer/layer_{layer}/mlp"
        for ours, theirs in (("Q", "query"), ("K", "key"), ("V", "value")):
            state[f"blocks.{layer}.attn.W_{ours}"] = rearrange(
                t(params[f"{attn}/{theirs}"]["w"]), "d (h k) -> h d k", h=n_heads
            )
            state[f"blocks.{layer}.attn.b_{ours}"] = rearrange(
                t(params[f"{attn}/{theirs}"]["b"]), "(h k) -> h k", h=n_heads
            )
        state[f"blocks.{layer}.attn.W_O"] = rearrange(
            t(params[f"{attn}/linear"]["w"]), "(h k) d -> h k d", h=n_heads
        )
        state[f"blocks.{layer}.attn.b_O"] = t(params[f"{attn}/linear"]["b"])
        state[f"blocks.{layer}.mlp.W_in"] = t(params[f"{mlp}/linear_1"]["w"])
        state[f"blocks.{layer}.mlp.b_in"] = t(params[f"{mlp}/linear_1"]["b"])
        state[f"blocks.{layer}.mlp.W_out"] = t(params[f"{mlp}/linear_2"]["w"])
        state[f"blocks.{layer}.mlp.b_out"] = t(params[f"{mlp}/linear_2"]["b"])

    labels = compilation.model.residual_labels
    unembed = torch.zeros(cfg.d_model, cfg.d_vocab_out, dtype=cfg.dtype)
    for column, label in enumerate(_output_directions(compilation)):
        unembed[labels.index(label), column] = 1.0
    state["unembed.W_U"] = unembed
    state["unembed.b_U"] = torch.zeros(cfg.d_vocab_out, dtype=cfg.dtype)
    return state


def tracr_encoding(compilation: TracrCompilation) -> TracrEncoding:
    model = compilation.model
    output_values: Optional[tuple] = None
    if compilation.is_categorical:
        by_id = {i: v for v, i in model.output_encoder.encoding_map.items()}
        output_values = tuple(by_id[i] for i in range(len(by_id)))
    return TracrEncoding(
        input_vocab=dict(model.input_encoder.encoding_map),
        output_values=output_values,
        max_seq_len=compilation.max_seq_len,
    )


def build_hooked_transformer(
    cfg: HookedTransformerConfig, state_dict: dict[str, torch.Tensor], device: str | torch.device = "cpu"
) -> HookedTransformer:
    """A HookedTransformer with the given weights and every hook the patching engine uses."""
    cfg.use_attn_result = True
    cfg.use_split_qkv_input = True
    cfg.use_hook_mlp_in = True
    model = HookedTransformer(cfg, move_to_device=False)
    model.load_state_dict(state_dict, strict=False)
    model.to(device, print_details=False)
    model.eval()
    return model


def to_hooked_transformer(compilation: TracrCompilation, device: str | torch.device = "cpu") -> HookedTransformer:
    """The HookedTransformer computing the same function as Tracr's model."""
    cfg = tracr_config(compilation)
    return build_hooked_transformer(cfg, tracr_state_dict(compilation, cfg), device)
