"""Time ACDC at single thresholds: our sequential mode, our batched mode, auto-circuit.

    python benchmarks/bench_acdc.py                               # small and large model, tau 1e-2, 1e-3, 1e-4
    python benchmarks/bench_acdc.py --models small --taus 1e-3
    PYTHONPATH=/tmp/acpkg python benchmarks/bench_acdc.py         # with auto-circuit 1.0.1 side by side

Objective for everyone: KL(clean || patched) of the last position, mean over the batch, resample
ablation from the corrupted batch; an edge goes when the loss rises by less than tau. "sequential"
is our one-circuit-per-pass mode (`extra={"sequential": True}`), "batched" our default (adaptive
speculative windows). Both start each pass at the first patched layer. Forward-equivalents count
each evaluated circuit by the share of the model its pass ran (1 = a full forward), per edge of
the graph. auto-circuit (see `auto_circuit_ref.py`) is given our edge order so its kept set can be
compared; its time includes its own clean and corrupted runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import auto_circuit_ref  # noqa: E402
from bench_models import MODELS, add_common_args, apply_common_args  # noqa: E402

from circuits_benchmark.graph import ComputationalGraph, PatchSource, prune_edges, resolve_source  # noqa: E402
from circuits_benchmark.methods.acdc import make_evaluator, run_acdc_edges  # noqa: E402
from circuits_benchmark.methods.base import MethodConfig  # noqa: E402
from circuits_benchmark.methods.acdc import circuits_per_pass  # noqa: E402
from circuits_benchmark.tasks import PatchingTask  # noqa: E402


def last_position_task(model, clean: torch.Tensor, corrupted: torch.Tensor) -> PatchingTask:
    positions = torch.zeros(clean.shape, dtype=torch.bool)
    positions[:, -1] = True
    return PatchingTask(model, clean, corrupted, positions, is_categorical=True, name="bench")


def bench(name: str, taus: list[float], with_auto_circuit: bool, device: str) -> None:
    spec = MODELS[name]
    model = spec.build(device)
    graph = ComputationalGraph.from_model(model)
    clean, corrupted = spec.tokens()
    task = last_position_task(model, clean, corrupted)
    window = circuits_per_pass(task, MethodConfig())
    print(f"\n{spec}; {graph.n_edges} edges; batched mode: up to {window} circuits per pass")
    print(f"{'tau':>7s} {'mode':12s} {'seconds':>8s} {'passes':>7s} {'fwd-eq/edge':>11s} {'kept':>5s} "
          f"{'= sequential':>12s} {'seq / this':>10s}")
    for tau in taus:
        start = time.perf_counter()
        source = resolve_source(model, graph, PatchSource.corrupted(corrupted))
        evaluate, count = make_evaluator(task, graph, source, "kl", window)
        setup = time.perf_counter() - start
        results = {}
        for mode, w in (("sequential", 1), ("batched", window)):
            count.reset()
            start = time.perf_counter()
            mask = run_acdc_edges(graph, evaluate, tau, w)
            seconds = setup + time.perf_counter() - start
            kept = prune_edges(graph, mask > 0)
            results[mode] = (seconds, kept)
            same = torch.equal(kept, results["sequential"][1])
            print(f"{tau:7.0e} {mode:12s} {seconds:8.2f} {count.passes:7d} {count.forward_equivalents / graph.n_edges:11.3f} "
                  f"{int(kept.sum()):5d} {str(same):>12s} {results['sequential'][0] / seconds:9.2f}x")
        if with_auto_circuit:
            names, seconds = auto_circuit_ref.acdc_kept_edges(model, clean, corrupted, tau)
            ours = set(graph.edge_names(torch.nonzero(results["sequential"][1]).flatten()))
            print(f"{tau:7.0e} {'auto-circuit':12s} {seconds:8.2f} {'':7s} {'':11s} {len(names):5d} "
                  f"{str(names == ours):>12s} {results['sequential'][0] / seconds:9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--taus", default="1e-2,1e-3,1e-4")
    args = parser.parse_args()
    with_ac = apply_common_args(args)
    taus = [float(t) for t in args.taus.split(",")]
    for name in args.models.split(","):
        bench(name, taus, with_ac, args.device)


if __name__ == "__main__":
    main()
