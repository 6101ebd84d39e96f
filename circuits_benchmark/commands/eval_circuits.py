"""`main.py eval {auroc,faithfulness,realism,print-results}`: evaluate discovered circuits.

* `auroc`: every circuit file under `--results-dir` (default `results/circuits`) against its
  case's true circuit; writes `{out}/auroc.csv` and `{out}/auroc.json` (default out `results/eval`).
* `faithfulness`: MIB f curves, CPR and CMD per circuit file; `{out}/faithfulness.{csv,json}` and
  one curve PNG per file under `{out}/plots/`.
* `realism -i CASE`: effect of ablating each node alone, for the Tracr model and any stored SIIT
  models, split into true-circuit and other nodes; `{out}/realism_case_{id}.{csv,json}`.
* `print-results --metric auroc|cpr|cmd`: a methods x cases table from those files.

Every circuit file is read against the model its folder names (`tracr`: the case's Tracr model;
`siit` / `siit_{run}`: the stored SIIT model, see `--models-root` / `--run`). A file whose cfg or
node / edge names differ from that model's graph, or that holds NaN / infinite scores, is refused;
refused and failed files are listed on stderr and the command exits 1 (the other files are still
evaluated and written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from circuits_benchmark.commands.arguments import add_device_arg, positive_int
from circuits_benchmark.evaluation.faithfulness import ROUNDINGS
from circuits_benchmark.evaluation.results import DEFAULT_CIRCUITS_DIR, DEFAULT_EVAL_DIR

METRIC_FILES = {"auroc": "auroc.json", "cpr": "faithfulness.json", "cmd": "faithfulness.json"}


def add_parsers(eval_subparsers: argparse._SubParsersAction) -> None:
    """Register `auroc`, `faithfulness`, `realism` and `print-results` under the `eval` subparsers."""
    p = eval_subparsers.add_parser("auroc", help="AUROC of every circuit file against its case's true circuit")
    _add_selection(p)
    p.add_argument("--truth-ablation", choices=["patching", "mean", "zero"], default=None,
                   help="ablation defining the true circuit (default: each file's own; optimal -> patching)")
    p.add_argument("--plots", action="store_true", help="also draw one ROC picture per file under {out}/plots")
    p.add_argument("--models-root", default=None, help="trained model store of `siit` folders (default: the training default)")
    p.add_argument("--run", default=None, help="trained model run for the `siit` folder (default 510)")
    p.set_defaults(func=run_auroc)

    p = eval_subparsers.add_parser("faithfulness", help="MIB faithfulness curves, CPR and CMD of every circuit file")
    _add_selection(p)
    p.add_argument("--metric", default=None, choices=["kl", "l2", "logit_diff", "prob_diff", "accuracy"],
                   help="task metric (default: kl for categorical cases, l2 for numerical)")
    p.add_argument("--ablation", default=None, choices=["patching", "mean", "zero"],
                   help="ablation of removed edges (default: each file's own; optimal -> patching)")
    p.add_argument("--rounding", default="floor", choices=ROUNDINGS,
                   help="fraction -> edge count (floor = MIB's int(p*n); ceil keeps >= 1 edge)")
    p.add_argument("-n", "--n-examples", type=positive_int, default=32, help="clean/corrupted pairs per case")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=16, help="circuits per batched forward pass")
    p.add_argument("--models-root", default=None, help="trained model store (default: the training default)")
    p.add_argument("--run", default=None, help="trained model run for the `siit` folder (default 510)")
    p.add_argument("--no-plots", action="store_true", help="skip the curve pictures")
    add_device_arg(p)
    p.set_defaults(func=run_faithfulness)

    p = eval_subparsers.add_parser("realism", help="per-node ablation effects of the Tracr and SIIT models of a case")
    p.add_argument("-i", "--case", required=True, help="case id")
    p.add_argument("--models", nargs="+", default=["tracr"],
                   help="models to compare: tracr, siit, siit_{run}, interpbench (default: tracr)")
    p.add_argument("--ablation", default="patching", choices=["patching", "mean", "zero"])
    p.add_argument("--metric", default=None, choices=["kl", "l2", "logit_diff", "prob_diff", "accuracy"])
    p.add_argument("-n", "--n-examples", type=positive_int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models-root", default=None)
    p.add_argument("--run", default=None)
    p.add_argument("--out", type=Path, default=DEFAULT_EVAL_DIR, help=f"output folder (default {DEFAULT_EVAL_DIR})")
    add_device_arg(p)
    p.set_defaults(func=run_realism)

    p = eval_subparsers.add_parser("print-results", help="methods x cases table of auroc, cpr or cmd")
    p.add_argument("--metric", required=True, choices=sorted(METRIC_FILES),
                   help="auroc (headline rank AUROC), cpr or cmd")
    p.add_argument("--column", default=None,
                   help="another column of the results file instead (e.g. auroc_mib_edge, auroc_rank_node)")
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR, help=f"evaluation folder (default {DEFAULT_EVAL_DIR})")
    p.add_argument("--model", default=None, help="only rows of this model folder (e.g. tracr)")
    p.set_defaults(func=run_print_results)


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", type=Path, default=DEFAULT_CIRCUITS_DIR,
                   help=f"folder of {{model}}/case_{{id}}/{{method}}_{{level}}_{{ablation}}.json files (default {DEFAULT_CIRCUITS_DIR})")
    p.add_argument("--out", type=Path, default=DEFAULT_EVAL_DIR, help=f"output folder (default {DEFAULT_EVAL_DIR})")
    p.add_argument("--model", nargs="+", default=None, help="only these model folders")
    p.add_argument("-i", "--case", nargs="+", default=None, help="only these case ids")
    p.add_argument("--method", nargs="+", default=None, help="only these methods")


def _files(args: argparse.Namespace):
    from circuits_benchmark.evaluation.results import find_circuit_files

    def skipped(path: Path, reason: str) -> None:
        print(f"skipping {reason}", file=sys.stderr)

    try:
        files = find_circuit_files(args.results_dir, args.model, args.case, args.method, on_skip=skipped)
    except FileNotFoundError as err:
        raise ValueError(str(err)) from err
    if not files:
        raise ValueError(f"no circuit files under {args.results_dir} (expected {{model}}/case_{{id}}/"
                         "{method}_{level}_{ablation}.json)")
    return files


def _report(kind: str, rows: list, errors: list, out: Path) -> int:
    """Print refused / failed files to stderr; exit status 1 when any file failed (or none was evaluated)."""
    for path, message in errors:
        print(f"{path}: {message}", file=sys.stderr)
    print(f"{kind}: evaluated {len(rows)} circuit files ({len(errors)} refused or failed); wrote {out}.csv and {out}.json")
    if errors:
        print(f"error: {len(errors)} circuit file(s) could not be evaluated (listed above)", file=sys.stderr)
    return 0 if rows and not errors else 1


def run_auroc(args: argparse.Namespace) -> int:
    from circuits_benchmark.evaluation.bulk import auroc_rows
    from circuits_benchmark.evaluation.results import format_results_table, write_rows

    rows, errors = auroc_rows(_files(args), args.truth_ablation, args.out / "plots" if args.plots else None,
                              models_root=args.models_root, run=args.run)
    write_rows(rows, args.out / "auroc.csv", args.out / "auroc.json")
    if rows:
        print(format_results_table(rows, "auroc"))
    return _report("auroc", rows, errors, args.out / "auroc")


def run_faithfulness(args: argparse.Namespace) -> int:
    import torch

    from circuits_benchmark.evaluation.bulk import CaseCache, faithfulness_rows
    from circuits_benchmark.evaluation.results import format_results_table, write_rows
    from circuits_benchmark.utils.device import resolve_device

    cases = CaseCache(str(resolve_device(args.device)))
    with torch.no_grad():
        rows, errors = faithfulness_rows(
            _files(args), args.metric, args.ablation, args.n_examples, args.seed, args.rounding,
            models_root=args.models_root, run=args.run, plots_dir=None if args.no_plots else args.out / "plots",
            cases=cases, batch_size=args.batch_size)
    write_rows(rows, args.out / "faithfulness.csv", args.out / "faithfulness.json")
    for metric in ("cpr", "cmd"):
        if rows:
            print(f"{metric.upper()}:\n{format_results_table(rows, metric)}\n")
    return _report("faithfulness", rows, errors, args.out / "faithfulness")


def run_realism(args: argparse.Namespace) -> int:
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.evaluation.bulk import load_model
    from circuits_benchmark.evaluation.realism import format_realism_table, realism_table
    from circuits_benchmark.evaluation.results import write_rows
    from circuits_benchmark.tasks import task_from_case
    from circuits_benchmark.utils.device import resolve_device

    device = resolve_device(args.device)
    compiled = compile_case(get_case(args.case), device=device)
    tasks = {}
    for name in args.models:
        try:
            model = load_model(name, compiled, args.models_root, args.run, device=str(device))
        except FileNotFoundError as err:
            raise ValueError(f"model {name!r} of case {args.case}: {err}") from err
        tasks[name] = task_from_case(compiled, args.n_examples, args.seed, model=model)
    truths = {name: compiled.alignment_for(task.model).mib_edges(args.ablation) for name, task in tasks.items()}
    rows, summaries = realism_table(tasks, truths, args.ablation, args.metric)
    print(f"case {args.case}: effect of ablating each node alone ({args.ablation})")
    print(format_realism_table(rows, summaries))
    out = args.out / f"realism_case_{args.case}"
    write_rows(rows, out.with_suffix(".csv"))
    from circuits_benchmark.utils.atomic import finite_or_none, write_json

    write_json(out.with_suffix(".json"), finite_or_none({"rows": rows, "summaries": [s.to_dict() for s in summaries]}),
               indent=1)
    print(f"wrote {out}.csv and {out}.json")
    return 0


def run_print_results(args: argparse.Namespace) -> int:
    from circuits_benchmark.evaluation.results import format_results_table, read_rows

    try:
        rows = read_rows(args.eval_dir / METRIC_FILES[args.metric])
    except FileNotFoundError as err:
        raise ValueError(str(err)) from err
    if args.model:
        rows = [r for r in rows if r.get("model") == args.model]
    column = args.column or args.metric
    print(format_results_table(rows, column))
    return 0
