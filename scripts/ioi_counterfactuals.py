"""Edge-level AUROCs on the shipped IOI model under the study's protocol and under MIB's.

The study scores IOI with the ABC counterfactual and KL. MIB's InterpBench runs use the
`s2_io_flip` counterfactual (S2 replaced by the IO) and the logit difference of IO over S; with that
counterfactual the corrupted answer is S, so our `logit_diff` (clean answer minus corrupted answer)
is MIB's metric. This script runs the given methods under each (counterfactual, metric) pair and
prints the rank AUROC and MIB's greedy-budget AUROC against the IOI truth (the study's settings:
32 examples, seed 0, patching ablation):

    PYTHONPATH=. python scripts/ioi_counterfactuals.py --methods exact eap eap-ig-activations eap-ig-inputs ifr
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from circuits_benchmark.evaluation.auroc import mib_auroc, rank_auroc
from circuits_benchmark.ioi.train import IOI_COUNTERFACTUALS, ioi_task
from circuits_benchmark.methods import MethodConfig, run_method
from circuits_benchmark.models import load_subject


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["exact", "eap", "eap-ig-activations", "eap-ig-inputs", "ifr"])
    parser.add_argument("--counterfactuals", nargs="+", default=list(IOI_COUNTERFACTUALS), choices=IOI_COUNTERFACTUALS)
    parser.add_argument("--metrics", nargs="+", default=["kl", "logit_diff"])
    parser.add_argument("--n-examples", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    subject = load_subject("ioi", "siit")
    print(f"{'counterfactual':14s} {'metric':10s} {'method':20s} {'rank AUROC':>10s} {'MIB AUROC':>10s} {'s':>6s}")
    for counterfactual in args.counterfactuals:
        task = ioi_task(subject.model, args.n_examples, args.seed, counterfactual)
        graph = task.graph()
        truth = subject.truth(graph)
        for metric, method in itertools.product(args.metrics, args.methods):
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            circuit = run_method(method, task, MethodConfig(metric=metric, seed=args.seed, progress=False), graph)
            seconds = time.perf_counter() - start
            print(f"{counterfactual:14s} {metric:10s} {method:20s} {rank_auroc(circuit, truth, 'edge').auroc:10.3f} "
                  f"{mib_auroc(circuit, truth, 'edge').auroc:10.3f} {seconds:6.1f}", flush=True)


if __name__ == "__main__":
    main()
