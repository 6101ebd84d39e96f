"""The random models and batches the patching and ACDC benchmarks time (shared by both scripts)."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass

import torch

warnings.filterwarnings("ignore", category=DeprecationWarning)

from transformer_lens import HookedTransformer, HookedTransformerConfig  # noqa: E402

import auto_circuit_ref  # noqa: E402
from circuits_benchmark.graph import prepare_model  # noqa: E402

D_VOCAB = 50


@dataclass(frozen=True)
class BenchModel:
    """A random pre-LayerNorm GELU model: layers x heads x d_model, run on batch x seq tokens."""

    name: str
    layers: int
    heads: int
    d_model: int
    batch: int = 8
    seq: int = 12

    def build(self, device: str = "cpu") -> HookedTransformer:
        cfg = HookedTransformerConfig(
            n_layers=self.layers, n_heads=self.heads, d_model=self.d_model, d_head=self.d_model // self.heads,
            d_mlp=4 * self.d_model, n_ctx=self.seq, d_vocab=D_VOCAB, act_fn="gelu", normalization_type="LN",
            seed=0, device=device)
        return prepare_model(HookedTransformer(cfg)).eval()

    def tokens(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean and corrupted token batches (fixed seed)."""
        gen = torch.Generator().manual_seed(0)
        clean = torch.randint(0, D_VOCAB, (self.batch, self.seq), generator=gen)
        corrupted = torch.randint(0, D_VOCAB, (self.batch, self.seq), generator=gen)
        return clean, corrupted

    def __str__(self) -> str:
        return f"{self.name}: {self.layers} layers x {self.heads} heads x d_model {self.d_model}, batch {self.batch} x seq {self.seq}"


MODELS = {
    "small": BenchModel("small", 3, 4, 32),
    "large": BenchModel("large", 6, 8, 128),
}


def last_logprob0(logits: torch.Tensor) -> torch.Tensor:
    """``[..., batch, pos, vocab]`` -> ``[...]``: mean log-probability of token 0 at the last position."""
    return logits[..., -1, :].log_softmax(-1)[..., 0].mean(-1)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark script takes: models, auto-circuit, threads, device."""
    parser.add_argument("--models", default="small,large", help=f"comma separated, of {sorted(MODELS)}")
    parser.add_argument("--no-auto-circuit", action="store_true", help="skip auto-circuit even if installed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = leave torch's default)")
    parser.add_argument("--device", default="cpu")


def apply_common_args(args: argparse.Namespace) -> bool:
    """Set torch's threads, print the set-up line; returns whether auto-circuit runs side by side."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with_ac = not args.no_auto_circuit and auto_circuit_ref.available()
    print(f"torch threads {torch.get_num_threads()}, device {args.device}; auto-circuit: "
          f"{'1.0.1' if with_ac else 'not installed (see benchmarks/auto_circuit_ref.py)'}")
    return with_ac
