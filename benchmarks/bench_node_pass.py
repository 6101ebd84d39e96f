"""Time a learning step with node masks: the edge engine against the node pass, on shipped SIIT models.

    python benchmarks/bench_node_pass.py                      # cases 2, 39 and IOI, 5 circuits
    python benchmarks/bench_node_pass.py --cases 1,98 --circuits 8 --steps 20

A step is what node-level subnetwork probing does per epoch: a forward pass of ``C`` circuits with
soft node masks (every upstream node at 0.7) patched from the corrupted batch, and a backward pass
to the masks. "edge engine" runs it through ``patched_forward`` with the node masks spread over
every outgoing edge (``graph.node_mask_to_edge_mask``); "node pass" through ``patched_forward_nodes``.
The two compute the same function: the largest logit difference is printed next to the times.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

warnings.filterwarnings("ignore")

from circuits_benchmark.graph import PatchSource, patched_forward, patched_forward_nodes, resolve_source  # noqa: E402
from circuits_benchmark.models import load_subject  # noqa: E402
from circuits_benchmark.utils.torch_utils import frozen_weights  # noqa: E402


def per_step(fn, steps: int) -> float:
    """Seconds per call of ``fn`` (one warm-up call first)."""
    fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="2,39,ioi")
    parser.add_argument("--circuits", type=int, default=5, help="circuits per pass (SP's default: 5 lambdas)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--n-examples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'case':>5s} {'nodes':>6s} {'edges':>6s} {'edge engine ms':>15s} {'node pass ms':>13s} {'ratio':>6s} "
          f"{'max |diff|':>11s}")
    for case_id in [c.strip() for c in args.cases.split(",") if c.strip()]:
        subject = load_subject(case_id, "siit")
        task = subject.task(args.n_examples, 0)
        graph, model = task.graph(), task.model
        source = resolve_source(model, graph, PatchSource.corrupted(task.corrupted_tokens),
                                tuple(task.clean_tokens.shape))
        masks = torch.full((args.circuits, graph.n_nodes), 0.7, requires_grad=True)

        def edges() -> torch.Tensor:
            return patched_forward(model, graph, task.clean_tokens, graph.node_mask_to_edge_mask(masks), source,
                                   task.clean_mask)

        def nodes() -> torch.Tensor:
            return patched_forward_nodes(model, graph, task.clean_tokens, masks, source, task.clean_mask)

        with frozen_weights(model):
            edge_s = per_step(lambda: edges().mean().backward(), args.steps)
            node_s = per_step(lambda: nodes().mean().backward(), args.steps)
            with torch.no_grad():
                diff = (edges() - nodes()).abs().max().item()
        print(f"{case_id:>5s} {graph.n_nodes:6d} {graph.n_edges:6d} {1000 * edge_s:15.1f} {1000 * node_s:13.1f} "
              f"{edge_s / node_s:6.2f} {diff:11.2e}")


if __name__ == "__main__":
    main()
