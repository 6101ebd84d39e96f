"""How much of a model's behaviour its true circuit's *edges* carry: keep only those edges (every
other edge patched from the corrupted run, or mean-ablated) and measure accuracy against the
high-level outputs, for the HL-implied edges and for every edge among the circuit's nodes.

    python scripts/truth_sufficiency.py -i ioi 3 25 29 --n-examples 200

IIT constrains nodes, not edges: a trained model may route between circuit nodes along paths the
high-level graph does not have. This measures whether it does.
"""

from __future__ import annotations

import argparse
import warnings

import torch

from circuits_benchmark.evaluation.realism import matches_reference
from circuits_benchmark.graph import Circuit, patched_forward
from circuits_benchmark.models import GateWarning, load_subject


def kept_accuracy(subject, task, circuit: Circuit, ablation: str) -> float:
    """Accuracy against the high-level outputs with only `circuit`'s edges kept (the others from `ablation`)."""
    graph = task.graph()
    reference, defined = subject.reference(task)
    with torch.no_grad():
        logits = patched_forward(task.model, graph, task.clean_tokens, circuit.edge_in_graph.to(torch.float32),
                                 task.source(ablation), task.clean_mask)
    return float(matches_reference(task, logits, reference)[defined].float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--cases", nargs="+", required=True)
    p.add_argument("--n-examples", type=int, default=200)
    p.add_argument("--ablation", default="patching")
    args = p.parse_args()
    print("| case | HL-implied edges | accuracy kept | node-induced edges | accuracy kept | all edges |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for case in args.cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GateWarning)
            subject = load_subject(case, "siit")
        task = subject.task(args.n_examples, seed=1)
        truth = subject.truth(task.graph(), args.ablation)
        induced = truth.node_induced()
        full = Circuit(task.graph(), edge_in_graph=torch.ones(task.graph().n_edges, dtype=torch.bool))
        print(f"| {case} | {truth.n_edges} | {kept_accuracy(subject, task, truth, args.ablation):.1%} | {induced.n_edges} | "
              f"{kept_accuracy(subject, task, induced, args.ablation):.1%} | {kept_accuracy(subject, task, full, args.ablation):.1%} |")


if __name__ == "__main__":
    main()
