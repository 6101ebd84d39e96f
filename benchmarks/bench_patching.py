"""Time all single-edge ablations: our engine, one forward per edge (our naive reference), auto-circuit.

    python benchmarks/bench_patching.py                       # small and large model, every edge
    python benchmarks/bench_patching.py --models large --edges 500 --circuits-per-batch 1,4,16
    PYTHONPATH=/tmp/acpkg python benchmarks/bench_patching.py # with auto-circuit 1.0.1 side by side

Every run patches each edge alone from the corrupted batch and reads the mean log-probability of
token 0 at the last position. "engine" is `evaluate_edge_masks` (passes start at the first patched
layer, from the cached clean run; circuits per forward from the model and device unless given);
"naive" is one full hooked forward per edge (`graph/naive.py`); auto-circuit (see
`auto_circuit_ref.py`) runs one forward per edge with its patch masks, and batched with its
per-row masks. Source activations are computed outside the timed region for everyone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import auto_circuit_ref  # noqa: E402
from bench_models import MODELS, add_common_args, apply_common_args, last_logprob0  # noqa: E402

from circuits_benchmark.graph import (  # noqa: E402
    ComputationalGraph,
    PatchSource,
    evaluate_edge_masks,
    resolve_source,
    single_edge_ablation_masks,
)
from circuits_benchmark.graph.naive import naive_single_edge_effects  # noqa: E402
from circuits_benchmark.graph.patching import default_circuits_per_batch  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench(name: str, n_edges: int, per_batch: list[int], with_auto_circuit: bool, device: str) -> None:
    spec = MODELS[name]
    model = spec.build(device)
    graph = ComputationalGraph.from_model(model)
    clean, corrupted = spec.tokens()
    source = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    edges = torch.arange(graph.n_edges)
    if n_edges < graph.n_edges:  # an even spread over the graph (edges are ordered by layer)
        edges = torch.linspace(0, graph.n_edges - 1, n_edges).round().long().unique()
    masks = single_edge_ablation_masks(graph, edges)
    print(f"\n{spec}; {graph.n_edges} edges, timing {len(edges)}")

    naive, naive_s = timed(lambda: naive_single_edge_effects(model, graph, clean, source, last_logprob0,
                                                             edges=edges.tolist()))
    rows = [("naive: one forward per edge", naive_s, 0.0)]
    default = default_circuits_per_batch(model, clean)
    for c in per_batch or [default]:
        fast, seconds = timed(lambda: evaluate_edge_masks(model, graph, clean, masks, source, last_logprob0,
                                                          circuits_per_batch=c, progress=False))
        label = f"engine, {c} circuits/forward" + (" (default)" if c == default else "")
        rows.append((label, seconds, (fast - naive).abs().max().item()))
    if with_auto_circuit:
        names = graph.edge_names(edges)
        for batched in (False, True):
            values, seconds = auto_circuit_ref.single_edge_effects(model, clean, corrupted, batched=batched)
            ours = torch.tensor([values[n] for n in names])
            scale = len(edges) / graph.n_edges  # auto-circuit always runs every edge
            label = "auto-circuit, " + ("64 circuits/forward" if batched else "one forward per edge")
            rows.append((label + ("" if scale == 1 else " (scaled)"), seconds * scale, (ours - naive).abs().max().item()))

    print(f"{'':44s} {'seconds':>9s} {'ms/edge':>8s} {'vs naive':>9s} {'max |diff|':>11s}")
    for label, seconds, err in rows:
        print(f"{label:44s} {seconds:9.2f} {1e3 * seconds / len(edges):8.2f} {naive_s / seconds:8.2f}x {err:11.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--edges", type=int, default=0, help="time this many edges, spread over the graph (0 = all)")
    parser.add_argument("--circuits-per-batch", default="", help="comma separated (default: the engine's choice)")
    args = parser.parse_args()
    with_ac = apply_common_args(args)
    per_batch = [int(c) for c in args.circuits_per_batch.split(",") if c]
    for name in args.models.split(","):
        bench(name, args.edges or 10**9, per_batch, with_ac, args.device)


if __name__ == "__main__":
    main()
