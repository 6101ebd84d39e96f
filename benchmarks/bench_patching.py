"""Time all single-edge ablations: the batched patching engine vs. the naive one-forward-per-edge hooks.

Usage: python benchmarks/bench_patching.py [--layers 3 --heads 4 --d-model 32 --batch 8 --seq 12
                                            --circuits-per-batch 64 --threads 1 --device cpu]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

warnings.filterwarnings("ignore", category=DeprecationWarning)

from transformer_lens import HookedTransformer, HookedTransformerConfig  # noqa: E402

from circuits_benchmark.graph import (  # noqa: E402
    ComputationalGraph,
    PatchSource,
    evaluate_edge_masks,
    prepare_model,
    resolve_source,
    single_edge_ablation_masks,
)
from circuits_benchmark.graph.naive import naive_single_edge_effects  # noqa: E402


def build_model(args: argparse.Namespace) -> HookedTransformer:
    cfg = HookedTransformerConfig(n_layers=args.layers, n_heads=args.heads, d_model=args.d_model,
                                  d_head=args.d_model // args.heads, d_mlp=4 * args.d_model, n_ctx=args.seq,
                                  d_vocab=50, act_fn="gelu", normalization_type="LN", seed=0, device=args.device)
    return prepare_model(HookedTransformer(cfg)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=12)
    parser.add_argument("--circuits-per-batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = leave torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    model = build_model(args)
    graph = ComputationalGraph.from_model(model)
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 50, (args.batch, args.seq), generator=gen)
    corrupted = torch.randint(0, 50, (args.batch, args.seq), generator=gen)
    source = resolve_source(model, graph, PatchSource.corrupted(corrupted))

    def metric(logits: torch.Tensor) -> torch.Tensor:  # [..., batch, pos, vocab] -> [...]
        return logits[..., -1, :].log_softmax(-1)[..., 0].mean(-1)

    print(f"model: {args.layers} layers x {args.heads} heads, d_model {args.d_model}; {graph}")
    print(f"batch {args.batch} x seq {args.seq}, torch threads {torch.get_num_threads()}, device {args.device}")

    start = time.perf_counter()
    masks = single_edge_ablation_masks(graph, torch.arange(graph.n_edges), device=args.device)
    fast = evaluate_edge_masks(model, graph, clean, masks, source, metric,
                               circuits_per_batch=args.circuits_per_batch)
    engine_s = time.perf_counter() - start

    start = time.perf_counter()
    slow = naive_single_edge_effects(model, graph, clean, source, metric)
    naive_s = time.perf_counter() - start

    err = (fast - slow).abs().max().item()
    print(f"engine (batched, {args.circuits_per_batch} circuits/forward): {engine_s:8.2f} s")
    print(f"naive  (1 forward per edge):                {naive_s:8.2f} s")
    print(f"speed-up: {naive_s / engine_s:.1f}x   max |engine - naive| = {err:.2e}")


if __name__ == "__main__":
    main()
