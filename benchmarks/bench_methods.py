"""Time every registered discovery method on a few Tracr cases, and exact patching vs a naive loop.

Usage: python benchmarks/bench_methods.py [--cases 3,4,2] [--methods eap,exact,...] [--n-examples 32]
                                          [--threads 1] [--device cpu] [--skip-naive]

Prints seconds per (method, case) at default settings (edge level, patching ablation), the AUROC
of |scores| against the case's true circuit (rank-based, sklearn), and the ratio between exact
patching on the batched engine and a naive one-forward-per-edge hook loop (same metric values).
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

warnings.filterwarnings("ignore")

from sklearn.metrics import roc_auc_score  # noqa: E402

from circuits_benchmark.cases import get_case  # noqa: E402
from circuits_benchmark.cases.compiled import compile_case  # noqa: E402
from circuits_benchmark.graph import resolve_source  # noqa: E402
from circuits_benchmark.graph.naive import naive_single_edge_effects  # noqa: E402
from circuits_benchmark.methods import MethodConfig, method_names, run_method  # noqa: E402
from circuits_benchmark.methods.eap import scoring_metric  # noqa: E402
from circuits_benchmark.methods.exact import exact_edge_scores  # noqa: E402
from circuits_benchmark.tasks import task_from_case  # noqa: E402


def auroc(truth: torch.Tensor, scores: torch.Tensor) -> float:
    truth = truth.numpy()
    if truth.all() or not truth.any():
        return float("nan")
    return float(roc_auc_score(truth, torch.nan_to_num(scores.abs(), nan=0.0).numpy()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="3,4,2")
    parser.add_argument("--methods", default=None, help="comma separated (default: every registered method)")
    parser.add_argument("--n-examples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",") if args.methods else method_names()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]

    print(f"{'method':22s} {'case':>5s} {'edges':>6s} {'seconds':>9s} {'AUROC':>6s}")
    for case_id in cases:
        compiled = compile_case(get_case(case_id), device=args.device)
        task = task_from_case(compiled, args.n_examples, seed=0)
        graph = task.graph()
        truth = compiled.true_circuit(graph).edge_in_graph
        for name in methods:
            torch.manual_seed(0)
            start = time.perf_counter()
            try:
                circuit = run_method(name, task, MethodConfig(progress=False), graph)
            except Exception as err:  # report and go on: one broken method must not hide the others
                print(f"{name:22s} {case_id:>5s} {graph.n_edges:6d}    failed: {type(err).__name__}: {err}")
                continue
            seconds = time.perf_counter() - start
            print(f"{name:22s} {case_id:>5s} {graph.n_edges:6d} {seconds:9.3f} {auroc(truth, circuit.edge_scores):6.3f}")

        if not args.skip_naive:
            config = MethodConfig(progress=False)
            start = time.perf_counter()
            engine = exact_edge_scores(task, graph, config)
            engine_s = time.perf_counter() - start
            metric = scoring_metric(task)
            start = time.perf_counter()
            source = resolve_source(task.model, graph, task.source("patching"), tuple(task.clean_tokens.shape))
            naive = naive_single_edge_effects(task.model, graph, task.clean_tokens, source, metric,
                                              attention_mask=task.clean_mask).double()
            naive = metric.orientation * (naive - float(metric(task.clean_logits)))
            naive_s = time.perf_counter() - start
            diff = float((engine - naive).abs().max())
            print(f"  case {case_id}: exact patching engine {engine_s:.3f}s vs naive loop {naive_s:.3f}s "
                  f"-> {naive_s / engine_s:.1f}x faster (max score difference {diff:.2e})")


if __name__ == "__main__":
    main()
