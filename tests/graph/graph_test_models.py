"""Small random float64 HookedTransformers for the graph / patching tests (shared helpers)."""

from __future__ import annotations

import warnings

import torch

warnings.filterwarnings("ignore", category=DeprecationWarning)

from transformer_lens import HookedTransformer, HookedTransformerConfig  # noqa: E402

from circuits_benchmark.graph import prepare_model  # noqa: E402

D_VOCAB = 13
SEQ = 5
BATCH = 3

MODEL_SPECS = {
    "gelu_ln_mlp": dict(n_layers=2, n_heads=3, d_model=16, act_fn="gelu", normalization_type="LN"),
    "relu_noln_mlp": dict(n_layers=3, n_heads=2, d_model=24, act_fn="relu", normalization_type=None),
    "attn_only_ln": dict(n_layers=2, n_heads=4, d_model=32, act_fn="relu", normalization_type="LN", attn_only=True),
    "parallel_gelu_ln": dict(n_layers=2, n_heads=2, d_model=16, act_fn="gelu", normalization_type="LN",
                             parallel_attn_mlp=True),
}


def make_model(spec: str, seed: int = 0) -> HookedTransformer:
    """A prepared float64 model with every parameter (biases, LN too) drawn at random."""
    kwargs = dict(MODEL_SPECS[spec])
    d_model = kwargs["d_model"]
    cfg = HookedTransformerConfig(d_head=d_model // kwargs["n_heads"], n_ctx=8, d_vocab=D_VOCAB,
                                  dtype=torch.float64, seed=seed, **kwargs)
    model = HookedTransformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".w"):  # layer-norm scales: keep away from 0
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            else:
                p.copy_(0.4 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    model.eval()
    return prepare_model(model)
