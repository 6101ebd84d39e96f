"""`main.py bench`: the whole benchmark (train/load, discover, evaluate) over cases and methods."""

from __future__ import annotations

import argparse
import os

from circuits_benchmark.commands.arguments import add_device_arg, positive_int
from circuits_benchmark.methods.base import MethodConfig
from circuits_benchmark.training.store import DEFAULT_ROOT

DEFAULT_CASES = ["3", "4", "12", "14", "18"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="run methods on cases, evaluate them and print the tables")
    p.add_argument("-i", "--cases", default=",".join(DEFAULT_CASES),
                   help=f"comma-separated case ids (`ioi`: the IOI model, with --model siit), 'all' (with --model "
                        f"siit: every case and IOI), or 'passing' (with --model siit: the stored models that pass the "
                        f"quality gate); default {','.join(DEFAULT_CASES)}")
    p.add_argument("-m", "--methods", default="all", help="comma-separated methods, or 'all' (default)")
    p.add_argument("--model", choices=["tracr", "siit"], default="tracr",
                   help="study the compiled Tracr models or the SIIT models (the shipped ones by default; see --train-missing)")
    p.add_argument("--run", default=None, help="SIIT run name (default: the training default)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--models-root", default=str(DEFAULT_ROOT),
                   help="SIIT model store (default: the shipped models, circuits_benchmark/siit_models)")
    p.add_argument("--level", nargs="+", default=["edge"], choices=["edge", "node", "neuron"],
                   help="level(s) every method runs at, where it has them (default edge; e.g. `--level edge node`: "
                        "sp at node and edge level, acdc at edge level)")
    p.add_argument("--ablation", nargs="+", default=["patching"], choices=["patching", "mean", "zero"],
                   help="ablation(s) every method runs with, where it supports them (default patching; e.g. "
                        "`--ablation patching mean`)")
    p.add_argument("-n", "--n-examples", type=positive_int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"sp, ugs, oa (and every method under optimal ablation): optimisation steps (default "
                        f"{MethodConfig.epochs}); a circuit found with other settings is found again")
    p.add_argument("--lr", type=float, default=None,
                   help=f"the same methods: learning rate (default {MethodConfig.lr}; ugs uses a fifth of it)")
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, help="local worker processes")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run jobs on Ray (no address: a local Ray instance)")
    p.add_argument("--train-missing", action="store_true",
                   help="with --model siit: train (with the training defaults) the cases that have no stored model; "
                   "without it a missing model is reported as a failed case")
    p.add_argument("--train-epochs", type=positive_int, default=500, help="epoch limit of --train-missing (default 500)")
    p.add_argument("--train-max-minutes", type=float, default=None, help="time limit of --train-missing per case")
    p.add_argument("--no-faithfulness", action="store_true", help="skip the CPR/CMD curves")
    p.add_argument("--no-realism", action="store_true",
                   help="with --model siit: skip the per-node ablation effects of the Tracr and SIIT models")
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from circuits_benchmark.bench import BenchConfig, run_benchmark
    from circuits_benchmark.cases import case_ids, get_case
    from circuits_benchmark.methods import method_names
    from circuits_benchmark.models import is_ioi
    from circuits_benchmark.utils.device import resolve_device

    if args.cases == "passing":
        cases = passing_cases(args)
    else:
        cases = case_ids() if args.cases == "all" else [c.strip() for c in args.cases.split(",") if c.strip()]
    if args.cases == "all" and args.model == "siit":
        cases.append("ioi")  # the simplified IOI model is one more shipped SIIT model
    for case_id in cases:
        if is_ioi(case_id) and args.model != "siit":
            raise ValueError("the IOI task has no Tracr model: use `-i ioi` with --model siit")
        if not is_ioi(case_id):
            get_case(case_id)  # unknown ids fail up front with the list of valid ones
    methods = method_names() if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    config = BenchConfig(
        cases=cases, methods=methods, model=args.model, results_dir=args.results_dir, models_root=args.models_root,
        run=args.run, levels=tuple(dict.fromkeys(args.level)), ablations=tuple(dict.fromkeys(args.ablation)),
        n_examples=args.n_examples, seed=args.seed, workers=args.workers,
        learned_settings={k: getattr(args, k) for k in ("epochs", "lr") if getattr(args, k) is not None},
        ray_address=args.ray, train_missing=args.train_missing, train_epochs=args.train_epochs, train_max_minutes=args.train_max_minutes,
        faithfulness=not args.no_faithfulness, realism=not args.no_realism, device=str(resolve_device(args.device)),
    )
    report = run_benchmark(config)
    print(report.tables())
    print("\nphase seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.phase_seconds.items()))
    skipped = sum(o.skipped for o in report.outcomes)
    print(f"jobs: {len(report.outcomes)} ({skipped} already done, {len(report.failures)} failed)")
    for label, error in report.errors:
        print(f"error: {label}: {error.splitlines()[0]}")
    for outcome in report.failures:
        print(f"failed: {outcome.label}: {outcome.error.splitlines()[0]}")
    print(f"tables and rows written under {config.eval_dir}")
    return 1 if report.failures or report.errors else 0


def passing_cases(args: argparse.Namespace) -> list[str]:
    """`-i passing`: the SIIT models stored under `--models-root` whose meta records a passed quality gate."""
    from circuits_benchmark.training.manifest import manifest_rows
    from circuits_benchmark.training.store import DEFAULT_RUN

    if args.model != "siit":
        raise SystemExit("-i passing selects SIIT models by their quality gate: use it with --model siit")
    cases = [str(r["case"]) for r in manifest_rows(args.models_root, args.run or DEFAULT_RUN) if r["passed"]]
    if not cases:
        raise SystemExit(f"-i passing: no stored model under {args.models_root} passes the quality gate")
    return cases
