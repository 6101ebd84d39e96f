"""`main.py eval iit -i CASE`: load a stored LL model and report IIA, strict accuracy and accuracy.

Also prints the accuracy when everything outside the true circuit (every head and MLP aligned to
no RASP node) is resample-ablated at once, and the per-node breakdown.
"""

from __future__ import annotations

import argparse

from circuits_benchmark.commands.arguments import add_device_arg, positive_int
from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN
from circuits_benchmark.training.trainer import GATE_PAIRS, GATE_SEED


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `eval` with the single sub-subcommand `iit` (use `add_subparser` to share `eval`)."""
    p = subparsers.add_parser("eval", help="evaluate circuits and trained models")
    sub = p.add_subparsers(dest="eval_command", required=True)
    add_subparser(sub)


def add_subparser(eval_subparsers: argparse._SubParsersAction) -> None:
    """Register `iit` under an existing `eval` subcommand's subparsers."""
    p = eval_subparsers.add_parser("iit", help="IIA / strict accuracy / accuracy of a stored SIIT model")
    p.add_argument("-i", "--case", required=True, help="case id")
    p.add_argument("--run", default=DEFAULT_RUN, help=f"run name (default {DEFAULT_RUN})")
    p.add_argument("--root", default=str(DEFAULT_ROOT), help=f"model store root (default {DEFAULT_ROOT})")
    p.add_argument("--interp-bench", action="store_true",
                   help="download the published model from the Hugging Face hub (cybershiptrooper/InterpBench)")
    p.add_argument("-n", "--n-samples", type=positive_int, default=GATE_PAIRS,
                   help=f"(base, source) pairs to evaluate on (default {GATE_PAIRS}, the quality gate's)")
    p.add_argument("--seed", type=int, default=GATE_SEED, help=f"default {GATE_SEED}, the quality gate's")
    p.add_argument("--atol", type=float, default=0.05, help="tolerance of numerical outputs")
    add_device_arg(p)
    p.add_argument("--per-node", action="store_true", help="also print IIA per HL node and strict accuracy per LL node")
    p.set_defaults(func=run)


def check_fits_case(compiled, ll_cfg) -> None:
    """Refuse an LL model whose vocabulary or context differ from the case's, or that is smaller than its Tracr model.

    InterpBench's LL models may have more layers and heads than the Tracr model (at least 2 and 4).
    """
    hl = compiled.model.cfg
    case_id = compiled.case.case_id
    for name in ("d_vocab", "d_vocab_out", "n_ctx"):
        if getattr(hl, name) != getattr(ll_cfg, name):
            raise ValueError(f"the stored model does not fit case {case_id}: {name} {getattr(ll_cfg, name)} "
                             f"vs the Tracr model's {getattr(hl, name)}")
    for name in ("n_layers", "n_heads"):
        if getattr(ll_cfg, name) < getattr(hl, name):
            raise ValueError(f"the stored model does not fit case {case_id}: {name} {getattr(ll_cfg, name)} is "
                             f"smaller than the Tracr model's {getattr(hl, name)}")


def run(args: argparse.Namespace) -> int:
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.training import evaluate_model, load_interp_bench_model, load_ll_model
    from circuits_benchmark.utils.device import resolve_device

    case = get_case(args.case)
    device = resolve_device(args.device)
    if args.interp_bench:
        run_name = None if args.run in (None, "", DEFAULT_RUN) else args.run
        stored = load_interp_bench_model(case.case_id, run_name, device=device)
        source = f"hub {stored.folder}"
    else:
        stored = load_ll_model(case.case_id, args.run, args.root, device=device)
        source = str(stored.folder)
    compiled = compile_case(case, device=device)
    check_fits_case(compiled, stored.cfg)
    metrics = evaluate_model(case, stored.model, n=args.n_samples, seed=args.seed, atol=args.atol, compiled=compiled)
    print(f"case {case.case_id} ({case.output_kind}), model {source}, run {args.run}: {args.n_samples} pairs")
    for label, key in (("IIA", "iia"), ("strict accuracy", "strict_accuracy"), ("accuracy", "accuracy"),
                       ("accuracy, all non-circuit ablated", "circuit_accuracy")):
        print(f"  {label:38s}{metrics[key]:.2%}")
    if args.per_node:
        for key, value in metrics.items():
            if "/" in key:
                kind, name = key.split("/", 1)
                print(f"  {kind:6s} {name:32s} {value:.2%}")
    return 0
