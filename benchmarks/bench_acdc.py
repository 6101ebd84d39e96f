"""Time ACDC at single thresholds: our sequential mode, our batched mode, auto-circuit.

    python benchmarks/bench_acdc.py                               # small and large model, tau 1e-2, 1e-3, 1e-4
    python benchmarks/bench_acdc.py --models small --taus 1e-3
    PYTHONPATH=/tmp/acpkg python benchmarks/bench_acdc.py         # with auto-circuit 1.0.1 side by side
    python benchmarks/bench_acdc.py --models large --pass-cost 1e-3   # what one pass costs: a + b * circuits

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


def pass_cost(name: str, tau: float, device: str, repeats: int = 20) -> None:
    """Fit the cost of one patched pass as a + b * circuits, on masks like ACDC's when it reaches
    each layer (the inputs of later layers as kept at `tau`, this layer's and earlier ones' whole)
    with one edge into that layer removed per circuit; such a pass starts at that layer.

    With per-pass cost a and per-circuit cost b, no speculative window can make ACDC faster than
    (a + b) / b times its one-circuit-per-pass mode: even a window that never wastes a circuit only
    saves the per-pass part."""
    spec = MODELS[name]
    model = spec.build(device)
    graph = ComputationalGraph.from_model(model)
    clean, corrupted = spec.tokens()
    task = last_position_task(model, clean, corrupted)
    source = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    sequential, _ = make_evaluator(task, graph, source, "kl", 1)
    kept = prune_edges(graph, run_acdc_edges(graph, sequential, tau, 1) > 0).to(torch.float32)
    sizes = (1, 2, 4, 8)
    print(f"\n{spec}: one pass of ACDC at tau {tau:g} reaching each layer, one edge into it removed per circuit "
          f"(ms per pass, median of {repeats}; fit a + b * circuits)")
    print(f"{'start layer':>11s} " + " ".join(f"{c:>3d} circ." for c in sizes) + f" {'a ms':>7s} {'b ms':>7s} {'(a+b)/b':>8s}")
    layer_of = graph.downstream_layer[graph.edge_downstream]
    evaluate, _ = make_evaluator(task, graph, source, "kl", max(sizes))
    for layer in range(graph.cfg.n_layers):
        candidates = torch.nonzero((layer_of == layer) & (kept > 0)).flatten()
        if len(candidates) < max(sizes):
            candidates = torch.nonzero(layer_of == layer).flatten()
        # ACDC's state at this layer: later layers' inputs decided (kept), this and earlier ones whole
        state = torch.where(layer_of > layer, kept, torch.ones_like(kept))
        times = []
        for c in sizes:
            masks = state.repeat(c, 1)
            masks[torch.arange(c), candidates[:c]] = 0.0
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                evaluate(masks)
                runs.append(time.perf_counter() - start)
            times.append(1e3 * sorted(runs)[len(runs) // 2])
        b, a = torch.linalg.lstsq(torch.tensor([[c, 1.0] for c in sizes], dtype=torch.float64),
                                  torch.tensor(times, dtype=torch.float64).unsqueeze(1)).solution.flatten().tolist()
        print(f"{layer:11d} " + " ".join(f"{t:9.2f}" for t in times) + f" {a:7.2f} {b:7.2f} {(a + b) / b:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--taus", default="1e-2,1e-3,1e-4")
    parser.add_argument("--pass-cost", type=float, default=None, metavar="TAU",
                        help="instead: fit the cost of one pass (a + b * circuits) on the circuit kept at TAU")
    args = parser.parse_args()
    with_ac = apply_common_args(args)
    if args.pass_cost is not None:
        for name in args.models.split(","):
            pass_cost(name, args.pass_cost, args.device)
        return
    taus = [float(t) for t in args.taus.split(",")]
    for name in args.models.split(","):
        bench(name, taus, with_ac, args.device)


if __name__ == "__main__":
    main()
