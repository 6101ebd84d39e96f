"""`main.py eval {auroc,faithfulness,realism,print-results}`: evaluate discovered circuits.

* `auroc`: every circuit file under `--results-dir` (default `results/circuits`) against its
  case's true circuit; writes `{out}/auroc.csv` and `{out}/auroc.json` (default out `results/eval`).
* `faithfulness`: MIB f curves, CPR and CMD per circuit file; `{out}/faithfulness.{csv,json}` and
  one curve PNG per file under `{out}/plots/`.
* `realism -i CASE`: effect of ablating each node alone, for the Tracr model and any stored SIIT
  models, split into true-circuit and other nodes; per model, the score with every node outside
  the true circuit ablated at once (InterpBench's node realism; `--circuit FILE`: also the nodes
  of a discovered circuit); `{out}/realism_case_{id}.{csv,json}`. `-i ioi`: the IOI model.
* `print-results --metric auroc|cpr|cmd`: a methods x cases table from those files.

Selection options also take MIB's spellings (`--circuit-dir`, `--circuit-files`, `--models`,
`--tasks`, `--output-dir`; see `commands.upstream`).

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
from circuits_benchmark.commands.upstream import ablation_name, resolve_ablation
from circuits_benchmark.evaluation.faithfulness import ROUNDINGS
from circuits_benchmark.evaluation.results import DEFAULT_CIRCUITS_DIR, DEFAULT_EVAL_DIR

METRIC_FILES = {"auroc": "auroc.json", "cpr": "faithfulness.json", "cmd": "faithfulness.json"}


def add_parsers(eval_subparsers: argparse._SubParsersAction) -> None:
    """Register `auroc`, `faithfulness`, `realism` and `print-results` under the `eval` subparsers."""
    from circuits_benchmark.commands.upstream import UPSTREAM_EPILOG, add_alias, add_note

    p = eval_subparsers.add_parser("auroc", help="AUROC of every circuit file against its case's true circuit",
                                   epilog=UPSTREAM_EPILOG)
    _add_selection(p)
    p.add_argument("--truth-ablation", choices=["patching", "mean", "zero"], default=None,
                   help="ablation defining the true circuit (default: the Tracr model's files their own ablation, optimal -> patching; trained models zero, every high-level edge, as InterpBench)")
    p.add_argument("--plots", action="store_true", help="also draw one ROC picture per file under {out}/plots")
    p.add_argument("--models-root", default=None, help="trained model store of `siit` folders (default: the training default)")
    p.add_argument("--run", default=None, help="trained model run for the `siit` folder (default 510)")
    p.set_defaults(func=run_auroc)

    p = eval_subparsers.add_parser("faithfulness", help="MIB faithfulness curves, CPR and CMD of every circuit file",
                                   epilog=UPSTREAM_EPILOG)
    _add_selection(p)
    add_note(p, "--absolute", message="both selections are always evaluated: CPR from the signed one, CMD from the "
                                      "absolute one (MIB runs twice, without and with --absolute)")
    p.add_argument("--metric", default=None, choices=["kl", "l2", "logit_diff", "prob_diff", "accuracy"],
                   help="task metric (default: kl for categorical cases, l2 for numerical)")
    p.add_argument("--ablation", default=None, type=ablation_name, choices=["patching", "mean", "zero", "mean-positional"],
                   metavar="{patching,mean,zero}",
                   help="ablation of removed edges (default: each file's own; optimal -> patching); mean is per "
                        "position (MIB's mean-positional, also accepted)")
    p.add_argument("--rounding", default="floor", choices=ROUNDINGS,
                   help="fraction -> edge count (floor = MIB's int(p*n); ceil keeps >= 1 edge)")
    p.add_argument("-n", "--n-examples", type=positive_int, default=32, help="clean/corrupted pairs per case")
    add_alias(p, "--num-examples", "--head", dest="n_examples", type=positive_int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=16, help="circuits per batched forward pass")
    p.add_argument("--models-root", default=None, help="trained model store (default: the training default)")
    p.add_argument("--run", default=None, help="trained model run for the `siit` folder (default 510)")
    p.add_argument("--no-plots", action="store_true", help="skip the curve pictures")
    add_device_arg(p)
    p.set_defaults(func=run_faithfulness)

    p = eval_subparsers.add_parser(
        "realism", help="per-node ablation effects of the Tracr and SIIT models of a case",
        description="Per node: the effect of ablating it alone. Per model: the score with every node outside the "
                    "true circuit ablated at once (InterpBench's gt_node_realism), and with --circuit FILE the same "
                    "for the nodes of a discovered circuit (InterpBench's node_realism).", epilog=UPSTREAM_EPILOG)
    _add_realism_args(p)
    p.set_defaults(func=run_realism)

    p = eval_subparsers.add_parser("print-results", help="methods x cases table of auroc, cpr or cmd",
                                   epilog=UPSTREAM_EPILOG)
    p.add_argument("--metric", required=True, choices=sorted(METRIC_FILES),
                   help="auroc (headline rank AUROC), cpr or cmd")
    p.add_argument("--column", default=None,
                   help="another column of the results file instead (e.g. auroc_mib_edge, auroc_rank_node)")
    p.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR, help=f"evaluation folder (default {DEFAULT_EVAL_DIR})")
    add_alias(p, "--output-dir", dest="eval_dir", type=Path)
    p.add_argument("--model", default=None, help="only rows of this model folder (e.g. tracr)")
    add_note(p, "--split", takes_value=True, message=SPLIT_NOTE)
    p.set_defaults(func=run_print_results)


SPLIT_NOTE = "our tasks draw fresh examples from --seed (no fixed splits): use another --seed for held-out data"


def _add_realism_args(p: argparse.ArgumentParser) -> None:
    from circuits_benchmark.commands.upstream import add_alias

    p.add_argument("-i", "--case", default=None, help="case id (required), or ioi (the IOI model; --next-token: "
                                                       "ioi_next_token)")
    add_alias(p, "--indices", dest="case")
    p.add_argument("--models", nargs="+", default=["tracr"],
                   help="models to compare: tracr, siit, siit_{run}, interpbench (default: tracr; -i ioi: siit)")
    p.add_argument("--ablation", default="patching", choices=["patching", "mean", "zero"])
    p.add_argument("--metric", default=None, choices=["kl", "l2", "logit_diff", "prob_diff", "accuracy"])
    p.add_argument("-n", "--n-examples", dest="n_examples", type=positive_int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models-root", default=None, help="SIIT model store (default: the shipped models)")
    p.add_argument("--run", default=None, help="SIIT run of the `siit` model (default 510)")
    p.add_argument("--interpbench-dir", default=None,
                   help="local copy of InterpBench's models (default $INTERPBENCH_DIR, else the hub)")
    p.add_argument("--next-token", action="store_true", help="with -i ioi: the next-token IOI model")
    p.add_argument("--relative", type=int, choices=[0, 1], default=1,
                   help="circuit scores: 1 = share of the right outputs kept (InterpBench's default), 0 = accuracy")
    p.add_argument("--circuit", type=Path, default=None,
                   help="also score the nodes of this discovered circuit (a `run` output of the one model in --models)")
    p.add_argument("--circuit-threshold", type=float, default=None,
                   help="the --circuit at this value: ACDC's threshold / SP's lambda (one the run swept) or a score "
                        "threshold (default: the circuit's own membership)")
    p.add_argument("--out", type=Path, default=DEFAULT_EVAL_DIR, help=f"output folder (default {DEFAULT_EVAL_DIR})")
    add_device_arg(p)


def _add_selection(p: argparse.ArgumentParser) -> None:
    from circuits_benchmark.commands.upstream import MibModels, add_alias, add_note, method_filter

    p.add_argument("--results-dir", type=Path, default=DEFAULT_CIRCUITS_DIR,
                   help=f"folder of {{model}}/case_{{id}}/{{method}}_{{level}}_{{ablation}}.json files (default {DEFAULT_CIRCUITS_DIR})")
    add_alias(p, "--circuit-dir", dest="results_dir", type=Path)
    p.add_argument("--circuit-files", nargs="+", type=Path, default=None,
                   help="these circuit files instead (in the layout above; the other filters still apply)")
    p.add_argument("--out", type=Path, default=DEFAULT_EVAL_DIR, help=f"output folder (default {DEFAULT_EVAL_DIR})")
    add_alias(p, "--output-dir", dest="out", type=Path)
    p.add_argument("--model", nargs="+", default=None, help="only these model folders")
    p.add_argument("--models", dest="model", nargs="+", action=MibModels, many=True, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)
    p.add_argument("-i", "--case", nargs="+", default=None, help="only these case ids")
    add_alias(p, "--tasks", dest="case", nargs="+")
    p.add_argument("--method", nargs="+", type=method_filter, default=None,
                   help="only these methods (MIB spellings accepted)")
    p.add_argument("--level", nargs="+", choices=["edge", "node", "neuron"], default=None, help="only these levels")
    p.add_argument("--interpbench-dir", default=None,
                   help="local copy of InterpBench's models for `interpbench` folders (default $INTERPBENCH_DIR, "
                        "else the hub)")
    add_note(p, "--split", takes_value=True, message=SPLIT_NOTE)


def _files(args: argparse.Namespace):
    from circuits_benchmark.commands.upstream import split_cases
    from circuits_benchmark.evaluation.results import find_circuit_files, parse_circuit_path

    def skipped(path: Path, reason: str) -> None:
        print(f"skipping {reason}", file=sys.stderr)

    cases = split_cases(args.case) or None
    if args.circuit_files:
        files = []
        for path in args.circuit_files:
            if not path.exists():
                raise ValueError(f"no circuit file {path}")
            files.append(parse_circuit_path(path))
        files = [f for f in files if (not args.model or f.model in args.model) and (not cases or f.case_id in cases)
                 and (not args.method or f.method in args.method)]
    else:
        try:
            files = find_circuit_files(args.results_dir, args.model, cases, args.method, on_skip=skipped)
        except FileNotFoundError as err:
            raise ValueError(str(err)) from err
    if args.level:
        files = [f for f in files if f.level in args.level]
    if not files:
        where = "among --circuit-files" if args.circuit_files else f"under {args.results_dir}"
        raise ValueError(f"no circuit files {where} (expected {{model}}/case_{{id}}/"
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

    from circuits_benchmark.evaluation.bulk import CaseCache

    rows, errors = auroc_rows(_files(args), args.truth_ablation, args.out / "plots" if args.plots else None,
                              cases=CaseCache(interpbench_dir=args.interpbench_dir),
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

    args.ablation = resolve_ablation(args.ablation, mib_style=True)  # MIB's evaluation: say which mean this is
    cases = CaseCache(str(resolve_device(args.device)), interpbench_dir=args.interpbench_dir)
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
    from circuits_benchmark.evaluation.realism import circuit_score, format_realism_table, realism_table
    from circuits_benchmark.evaluation.results import write_rows
    from circuits_benchmark.models import is_ioi, load_subject, parse_model_label
    from circuits_benchmark.utils.atomic import finite_or_none, write_json
    from circuits_benchmark.utils.device import resolve_device

    if args.case is None:
        raise ValueError("give a case with -i CASE (or -i ioi)")
    device = resolve_device(args.device)
    models = list(args.models)
    if is_ioi(args.case) and models == ["tracr"]:
        models = ["siit"]  # IOI has no Tracr model
    if args.circuit is not None and len(models) != 1:
        raise ValueError("--circuit scores a circuit of one model: give one model in --models")
    subjects, tasks, truths = {}, {}, {}
    for name in models:
        kind, run = parse_model_label(name)
        subjects[name] = subject = load_subject(args.case, kind, run or (args.run if kind == "siit" else None),
                                                args.models_root, device, args.next_token, args.interpbench_dir)
        tasks[name] = subject.task(args.n_examples, args.seed)
        truths[name] = subject.truth(tasks[name].graph(), args.ablation).edge_names()
    case_id = next(iter(subjects.values())).case_id
    rows, summaries = realism_table(tasks, truths, args.ablation, args.metric)
    print(f"case {case_id}: effect of ablating each node alone ({args.ablation})")
    print(format_realism_table(rows, summaries))
    scores = []
    for name, subject in subjects.items():
        task = tasks[name]
        reference, defined = subject.reference(task)
        kept = [("truth", subject.truth(task.graph(), args.ablation))]
        if args.circuit is not None:
            kept.append((str(args.circuit), circuit_nodes(args.circuit, task.graph(), args.circuit_threshold)))
        for label, circuit in kept:
            result = circuit_score(task, circuit, reference, defined, args.ablation, bool(args.relative), name=label)
            scores.append({"model": name, "threshold": args.circuit_threshold if label != "truth" else None,
                           **result.to_dict()})
            what = "the true circuit" if label == "truth" else f"{label}" + (
                f" at {args.circuit_threshold:g}" if args.circuit_threshold is not None else "")
            print(f"{name}: nodes of {what} kept ({len(result.kept_nodes)}), the other {len(result.ablated_nodes)} "
                  f"{args.ablation}-ablated at once: score {result.score:.4f} "
                  f"({'relative' if args.relative else 'accuracy'}; accuracy {result.accuracy_before:.1%} -> "
                  f"{result.accuracy_after:.1%} on {result.n_positions} positions)")
    out = args.out / f"realism_case_{case_id}"
    write_rows(rows, out.with_suffix(".csv"))
    write_json(out.with_suffix(".json"), finite_or_none({"rows": rows, "summaries": [s.to_dict() for s in summaries],
                                                         "circuit_scores": scores}), indent=1)
    print(f"wrote {out}.csv and {out}.json")
    return 0


def circuit_nodes(path: Path, graph, threshold=None):
    """A discovered circuit on ``graph``: its membership, or (``threshold``) the circuit at that value.

    For ACDC and SP files the value must be one of the run's sweep (the file's ``.meta.json``), since
    only those circuits are encoded exactly (see ``methods.acdc``); other methods' scores are cut at
    ``threshold`` as they are (signed).
    """
    from circuits_benchmark.graph import read_circuit
    from circuits_benchmark.evaluation.results import _meta_for

    circuit = read_circuit(path, graph)
    if threshold is None:
        return circuit
    meta = _meta_for(path)
    method, config = meta.get("method"), meta.get("config") or {}
    swept = None
    if method == "acdc":
        from circuits_benchmark.methods.acdc import DEFAULT_THRESHOLDS

        swept, option = config.get("thresholds") or DEFAULT_THRESHOLDS, "--thresholds"
    elif method == "sp":
        from circuits_benchmark.methods.subnetwork_probing import DEFAULT_LAMBDAS

        swept, option = config.get("lambdas") or DEFAULT_LAMBDAS, "--lambdas"
    if swept is not None and not any(abs(float(v) - threshold) <= 1e-9 * max(1.0, abs(threshold)) for v in swept):
        raise ValueError(f"{path} holds the {method} circuits of {sorted(float(v) for v in swept)}, not of {threshold:g}: "
                         f"run `main.py run {method} ... {option} {threshold:g}` (--force to replace that file)")
    return circuit.threshold(threshold, absolute=False)


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
