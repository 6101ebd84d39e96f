"""`main.py run METHOD -i CASE`: run a circuit-discovery method and save the scored circuit.

Writes the circuit (MIB JSON, or `.pt` by extension) to `--out` or
`results/circuits/{model}/case_{id}/{method}_{level}_{ablation}.json`, plus a sidecar
`....meta.json` (method, config, task, model, runtime), and prints the best-scored edges.
`--checkpoint PATH --config PATH --tokens PATH` runs on any HookedTransformer and user batches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from circuits_benchmark.methods import ABLATIONS, LEVELS, MethodConfig, get_method, method_names, run_method
from circuits_benchmark.methods.eap import SCORING_METRICS

DEFAULT_OUT_ROOT = Path("results") / "circuits"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    names = method_names()
    p = subparsers.add_parser(
        "run", help="run a circuit-discovery method on a case's model",
        description="Score the edges (nodes, neurons) of a model with a discovery method and save the circuit. "
                    "Methods: " + "; ".join(f"{n}: {get_method(n).description}" for n in names),
    )
    p.add_argument("method", choices=names, metavar="METHOD", help=f"one of: {', '.join(names)}")
    p.add_argument("-i", "--case", default=None, help="case id (see `main.py cases`)")
    p.add_argument("--model", choices=["tracr", "siit"], default="tracr", help="the Tracr model or a trained SIIT model")
    p.add_argument("--run", default=None, help="SIIT run name in the model store (default: the store's default)")
    p.add_argument("--models-root", default=None, help="SIIT model store root (default results/models)")
    p.add_argument("--checkpoint", type=Path, default=None, help="state dict of any HookedTransformer (with --config, --tokens)")
    p.add_argument("--config", type=Path, default=None, help="HookedTransformerConfig JSON for --checkpoint")
    p.add_argument("--tokens", type=Path, default=None,
                   help=".pt dict with clean_tokens, corrupted_tokens (optional clean_mask, corrupted_mask, positions)")
    p.add_argument("--level", choices=LEVELS, default=None,
                   help="default: the method's own (node for sp, edge for the others)")
    p.add_argument("--edgewise", action="store_const", const="edge", dest="level",
                   help="same as --level edge (subnetwork probing over edges)")
    p.add_argument("--ablation", choices=ABLATIONS, default="patching")
    p.add_argument("--metric", choices=SCORING_METRICS, default=None,
                   help="default: the method's (gradient methods: logit_diff / output_diff; others: kl / l2)")
    p.add_argument("--batch-size", type=int, default=32, help="circuits per forward pass")
    p.add_argument("--ig-steps", type=int, default=5, help="EAP-IG interpolation steps")
    p.add_argument("--n-examples", type=int, default=64, help="clean / corrupted examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for tiny models)")
    p.add_argument("--out", type=Path, default=None, help="circuit file (.json MIB format, or .pt)")
    p.add_argument("--top", type=int, default=10, help="edges shown in the summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _subject(args: argparse.Namespace, device: torch.device) -> tuple[Any, str, Path]:
    """(task, model label, default output folder)."""
    from circuits_benchmark.models import load_checkpoint_model, load_model_for_study, task_from_token_file
    from circuits_benchmark.tasks import task_from_case

    if args.checkpoint is not None or args.config is not None or args.tokens is not None:
        if args.checkpoint is None or args.config is None or args.tokens is None:
            raise ValueError("--checkpoint, --config and --tokens go together")
        model = load_checkpoint_model(args.checkpoint, args.config, device)
        task = task_from_token_file(model, args.tokens, n_examples=args.n_examples)
        return task, "checkpoint", DEFAULT_OUT_ROOT / "checkpoint" / args.checkpoint.stem
    if args.case is None:
        raise ValueError("give a case with -i CASE (or --checkpoint, --config and --tokens)")
    compiled, model = load_model_for_study(args.case, args.model, args.run, args.models_root, device)
    task = task_from_case(compiled, args.n_examples, args.seed, model=model)
    label = args.model if args.run is None else f"{args.model}_{args.run}"
    return task, label, DEFAULT_OUT_ROOT / label / f"case_{args.case}"


def default_metric_note(method: str, task: Any) -> str:
    """What the method uses when no --metric is given."""
    from circuits_benchmark.methods.eap import default_attribution_metric

    if method in ("eap", "eap-ig-inputs", "eap-ig-activations"):
        return default_attribution_metric(task)
    if method == "ifr":
        return "none (information flow routes use no metric)"
    return f"method default (task default {task.default_metric})"


def meta_path(out: Path) -> Path:
    """`circuit.json` -> `circuit.meta.json`."""
    return out.with_name(out.stem + ".meta.json")


def discover_and_save(task: Any, method: str, config: MethodConfig, out: Path, model_meta: dict,
                      graph: Any = None) -> tuple[Any, float]:
    """Run `method` on `task`, write the circuit to `out` and its `.meta.json`; (circuit, seconds)."""
    from circuits_benchmark.graph import write_circuit

    spec = get_method(method)
    graph = graph or task.graph()
    start = time.perf_counter()
    circuit = run_method(method, task, config, graph)
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    write_circuit(circuit, out)
    meta = {
        "method": method,
        "description": spec.description,
        "config": dataclasses.asdict(config),
        "metric": config.metric or default_metric_note(method, task),
        "model": {**model_meta, "n_layers": task.model.cfg.n_layers, "n_heads": task.model.cfg.n_heads,
                  "d_model": task.model.cfg.d_model},
        "task": {"name": task.name, "n_examples": int(task.clean_tokens.shape[0]),
                 "seq_len": int(task.clean_tokens.shape[1]), "is_categorical": task.is_categorical,
                 "task_default_metric": task.default_metric},
        "graph": {"n_nodes": graph.n_nodes, "n_edges": graph.n_edges},
        "runtime_seconds": seconds,
        "device": str(task.device),
        "circuit_file": str(out),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta_path(out).write_text(json.dumps(meta, indent=2, default=str))
    return circuit, seconds


def run(args: argparse.Namespace) -> int:
    from circuits_benchmark.utils.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    args.level = args.level or get_method(args.method).levels[0]
    config = MethodConfig(level=args.level, ablation=args.ablation, metric=args.metric, batch_size=args.batch_size,
                          ig_steps=args.ig_steps, seed=args.seed, progress=not args.no_progress)
    task, label, folder = _subject(args, device)
    out = args.out or folder / f"{args.method}_{args.level}_{args.ablation}.json"
    model_meta = {"kind": label, "case": args.case, "run": args.run,
                  "checkpoint": None if args.checkpoint is None else str(args.checkpoint)}
    circuit, seconds = discover_and_save(task, args.method, config, out, model_meta)
    print(summary(circuit, args.method, task.name, seconds, args.top))
    print(f"wrote {out} and {meta_path(out)}")
    return 0


def summary(circuit: Any, method: str, task_name: str, seconds: float, top: int = 10) -> str:
    """A few lines: the method, the runtime and the best edges by |score|."""
    from circuits_benchmark.graph import rank_edges

    graph = circuit.graph
    lines = [f"{method} on {task_name}: scored {graph.n_edges} edges in {seconds:.2f}s"]
    for rank, e in enumerate(rank_edges(circuit.edge_scores, absolute=True)[:max(0, top)].tolist(), 1):
        lines.append(f"  {rank:3d}. {graph.edge_name(e):28s} {float(circuit.edge_scores[e]):+.6g}")
    if circuit.node_scores is not None:
        order = [i for i in rank_edges(circuit.node_scores, absolute=True).tolist()][:max(0, top)]
        nodes = ", ".join(f"{graph.nodes[i].name} ({float(circuit.node_scores[i]):+.3g})" for i in order
                          if circuit.node_scores[i] == circuit.node_scores[i])
        lines.append(f"  nodes: {nodes}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Stand-alone entry (`python -m circuits_benchmark.commands.run METHOD -i CASE`), errors -> exit 2."""
    from circuits_benchmark.cases import UnknownCaseError

    parser = argparse.ArgumentParser(prog="main.py")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["run", *(argv if argv is not None else sys.argv[1:])])
    try:
        return args.func(args)
    except (UnknownCaseError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
