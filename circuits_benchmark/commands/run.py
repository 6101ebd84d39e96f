"""`main.py run METHOD -i CASE`: run a circuit-discovery method and save the scored circuit.

Writes the circuit (MIB JSON, or `.pt` by extension) to `--out` or
`results/circuits/{model}/case_{id}/{method}_{level}_{ablation}.json`, plus a sidecar
`....meta.json` (method, config, task, model, runtime), and prints the best-scored edges.
`--checkpoint PATH --config PATH --tokens PATH` runs on any HookedTransformer and user batches.
`-i` takes several cases (`3,4`, `3 4`, `all`; failures are reported and the others go on), `ioi`
(the simplified IOI model), and `--model interpbench` without `-i` runs every case InterpBench has.
InterpBench's and MIB's spellings (`--tracr`, `-w/--siit-weights`, `--threshold`, `--lambda-reg`,
`--method EAP-IG-inputs`, `--circuit-dir`, ...) are accepted: see `commands.upstream`.

An existing result is overwritten only when its `.meta.json` records the same settings (method,
method config, resolved metric, model, case, run, checkpoint, tokens, examples); otherwise, or
without a readable meta file, `run` refuses and names the differing settings; `--force` overwrites.
A method that produced NaN or infinite scores is an error and nothing is written.
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

from circuits_benchmark.commands.arguments import add_device_arg, device_name, non_negative_int, positive_int
from circuits_benchmark.methods import ABLATIONS, LEVELS, MethodConfig, get_method, learns, method_names, run_method
from circuits_benchmark.methods.eap import SCORING_METRICS

DEFAULT_OUT_ROOT = Path("results") / "circuits"


class IntegratedGradSteps(argparse.Action):
    """InterpBench's ``--integrated-grad-steps N``: EAP with integrated gradients (our eap-ig-masks), N steps."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, "ig_steps", values)
        setattr(namespace, "integrated_grad", True)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from circuits_benchmark.commands.upstream import (
        UPSTREAM_EPILOG, ablation_name, add_alias, add_model_aliases, add_note, add_refusal, canonical_method,
    )
    from circuits_benchmark.models import MODEL_KINDS

    names = method_names()
    p = subparsers.add_parser(
        "run", help="run a circuit-discovery method on a case's model",
        description="Score the edges (nodes, neurons) of a model with a discovery method and save the circuit. "
                    "Methods: " + "; ".join(f"{n}: {get_method(n).description}" for n in names),
        epilog=UPSTREAM_EPILOG,
    )
    p.add_argument("method", nargs="?", type=canonical_method, metavar="METHOD", help=f"one of: {', '.join(names)}")
    p.add_argument("--method", dest="method_option", type=canonical_method, default=None, help=argparse.SUPPRESS)
    p.add_argument("-i", "--case", dest="case", nargs="+", action="extend", default=None,
                   metavar="CASE", help="case id(s), comma or space separated, or `all` (see `main.py cases`); `ioi` is "
                   "the simplified IOI model (`main.py train ioi`). Default with --model interpbench: every case")
    p.add_argument("--model", choices=MODEL_KINDS, default=None,
                   help="tracr: the Tracr model (default for Tracr cases); siit: a trained SIIT model (default for "
                        "-i ioi); interpbench: InterpBench's published model (--interpbench-dir, else the Hugging "
                        "Face hub)")
    add_alias(p, "--indices", "--tasks", dest="case", nargs="+", action="extend")
    add_model_aliases(p, MODEL_KINDS)
    p.add_argument("--run", default=None, help="SIIT run name in the model store (default: the store's default, 510)")
    p.add_argument("--models-root", default=None,
                   help="SIIT model store root (default: the shipped models, circuits_benchmark/siit_models)")
    p.add_argument("--interpbench-dir", default=None,
                   help="with --model interpbench: a local copy of InterpBench's models ({dir}/{case}/ll_model.pth, "
                        "ll_model_cfg.pkl; default $INTERPBENCH_DIR, else the Hugging Face hub)")
    p.add_argument("--next-token", action="store_true", help="with -i ioi: the next-token IOI model (ioi_next_token)")
    p.add_argument("--checkpoint", type=Path, default=None, help="state dict of any HookedTransformer (with --config, --tokens)")
    p.add_argument("--config", type=Path, default=None, help="config of --checkpoint: HookedTransformerConfig JSON, or InterpBench's ll_model_cfg.pkl")
    p.add_argument("--tokens", type=Path, default=None,
                   help=".pt dict with clean_tokens, corrupted_tokens (optional clean_mask, corrupted_mask, positions)")
    p.add_argument("--level", choices=LEVELS, default=None,
                   help="default: the method's own (node for sp, edge for the others)")
    p.add_argument("--edgewise", action="store_const", const="edge", dest="level",
                   help="same as --level edge (subnetwork probing over edges)")
    p.add_argument("--ablation", type=ablation_name, choices=(*ABLATIONS, "mean-positional"), default="patching",
                   metavar="{" + ",".join(ABLATIONS) + "}")
    p.add_argument("--metric", choices=SCORING_METRICS, default=None,
                   help="default: the method's (gradient methods: logit_diff / output_diff; others: kl / l2)")
    add_alias(p, "--loss-type", dest="metric", choices=SCORING_METRICS)
    p.add_argument("--batch-size", type=positive_int, default=32, help="circuits per forward pass")
    p.add_argument("--ig-steps", type=positive_int, default=5, help="EAP-IG interpolation steps")
    p.add_argument("--integrated-grad-steps", dest="ig_steps", type=positive_int, action=IntegratedGradSteps,
                   help=argparse.SUPPRESS)
    p.add_argument("--thresholds", type=float, nargs="+", default=None, metavar="T",
                   help="acdc: the thresholds to run (default: a 20-value sweep, 1e-5 .. 9e-2)")
    add_alias(p, "-t", "--threshold", dest="thresholds", type=float, nargs="+")
    p.add_argument("--lambdas", type=float, nargs="+", default=None, metavar="L",
                   help="sp: the regularisation strengths to train (default: 0.01 .. 100); ugs: its reg_lambda (one value)")
    add_alias(p, "--lambda-reg", dest="lambdas", type=float, nargs="+")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"sp, ugs, oa: optimisation steps (default {MethodConfig.epochs})")
    p.add_argument("--lr", type=float, default=None, help=f"sp, ugs, oa: learning rate (default {MethodConfig.lr})")
    p.add_argument("--n-examples", type=positive_int, default=64, help="clean / corrupted examples")
    add_alias(p, "--data-size", "--num-examples", "--head", dest="n_examples", type=positive_int)
    p.add_argument("--seed", type=int, default=0)
    add_device_arg(p)
    add_alias(p, "-d", dest="device", type=device_name)
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="torch CPU threads (0: all; default 1, fastest for tiny models)")
    add_alias(p, "--torch-num-threads", dest="threads", type=non_negative_int)
    p.add_argument("--out", type=Path, default=None, help="circuit file (.json MIB format, or .pt); one case only")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_OUT_ROOT,
                   help=f"folder of the default output files {{results-dir}}/{{model}}/case_{{id}}/"
                        f"{{method}}_{{level}}_{{ablation}}.json (default {DEFAULT_OUT_ROOT})")
    add_alias(p, "--circuit-dir", "-o", "--output-dir", dest="results_dir", type=Path)
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing circuit file even if it was made with other settings")
    p.add_argument("--top", type=non_negative_int, default=10, help="edges shown in the summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_note(p, "--atol", takes_value=True,
             message="InterpBench's SP uses it only for the test accuracy it logs; circuits here do not depend on it")
    add_note(p, "--max-num-epochs", takes_value=True,
             message="our ACDC always visits every node (no early stop after N steps); the option is not applied")
    add_note(p, "--split", takes_value=True,
             message="our tasks draw fresh examples from --seed (no fixed splits): use another --seed for held-out data")
    add_refusal(p, "--optimal-ablation-path", "--optimal_ablation_path",
                message="MIB reads precomputed optimal ablations; ours are learned during the run: use "
                        "--ablation optimal (or the oa method) without a path")
    p.set_defaults(func=run, integrated_grad=False)


def _subject(args: argparse.Namespace, case: Optional[str], device: torch.device
             ) -> tuple[Any, str, Path, Optional[str], Any]:
    """(task, model label, default output folder, case id, models.Subject or None) of one case, or of
    --checkpoint / --tokens."""
    from circuits_benchmark.models import load_checkpoint_model, load_subject, task_from_token_file

    if args.checkpoint is not None or args.config is not None or args.tokens is not None:
        if args.checkpoint is None or args.config is None or args.tokens is None:
            raise ValueError("--checkpoint, --config and --tokens go together")
        model = load_checkpoint_model(args.checkpoint, args.config, device)
        task = task_from_token_file(model, args.tokens, n_examples=args.n_examples)
        return task, "checkpoint", args.results_dir / "checkpoint" / args.checkpoint.stem, case, None
    if case is None:
        raise ValueError("give a case with -i CASE (or -i all, or --checkpoint, --config and --tokens)")
    subject = load_subject(case, args.model, args.run, args.models_root, device, args.next_token,
                           args.interpbench_dir)
    task = subject.task(args.n_examples, args.seed)
    return task, subject.label, args.results_dir / subject.label / f"case_{subject.case_id}", subject.case_id, subject


def default_metric_note(method: str, task: Any) -> str:
    """What the method uses when no --metric is given."""
    from circuits_benchmark.methods.eap import default_attribution_metric

    if method in ("eap", "eap-ig-inputs", "eap-ig-activations", "eap-ig-masks"):
        return default_attribution_metric(task)
    if method == "ifr":
        return "none (information flow routes use no metric)"
    return f"method default (task default {task.default_metric})"


def meta_path(out: Path) -> Path:
    """`circuit.json` -> `circuit.meta.json`."""
    return out.with_name(out.stem + ".meta.json")


def result_meta(task: Any, method: str, config: MethodConfig, out: Path, model_meta: dict, graph: Any,
                seconds: Optional[float] = None) -> dict:
    """The `.meta.json` of a result (`seconds`: the method's runtime, once known)."""
    spec = get_method(method)
    return {
        "method": method,
        "method_version": spec.version,
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


#: Config fields that change nothing in a result (display only); ignored when comparing settings.
_NOT_SETTINGS = ("progress", "metric")  # config.metric: compared through the resolved top-level "metric"


def result_settings(meta: dict) -> dict[str, Any]:
    """The settings a result was made with, from its meta (flat, comparable with `==`)."""
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    task = meta.get("task") if isinstance(meta.get("task"), dict) else {}
    kind = model.get("kind")
    if isinstance(kind, str) and kind.startswith("siit"):
        kind = "siit"  # `run` labels siit_{run}, the bench "siit" with the run alongside
    settings: dict[str, Any] = {"method": meta.get("method"), "method_version": meta.get("method_version", 1),
                                "metric": meta.get("metric")}
    settings.update({f"config.{k}": v for k, v in config.items() if k not in _NOT_SETTINGS})
    settings.update({"model": kind, "case": None if model.get("case") is None else str(model.get("case")),
                     "run": model.get("run"), "checkpoint": model.get("checkpoint"), "tokens": model.get("tokens"),
                     "model_shape": [model.get("n_layers"), model.get("n_heads"), model.get("d_model")],
                     "n_examples": task.get("n_examples"), "task": task.get("name")})
    return json.loads(json.dumps(settings, default=str))  # tuples -> lists, paths -> strings: as read back


def settings_differences(existing: dict, planned: dict) -> list[str]:
    """`key: existing vs planned` for every setting that differs."""
    a, b = result_settings(existing), result_settings(planned)
    return [f"{k}: {a.get(k)!r} there, {b.get(k)!r} now" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def check_overwrite(out: Path, planned_meta: dict, force: bool = False) -> None:
    """Refuse (ValueError) to replace `out` unless its meta records the same settings, or `force`."""
    if force or not out.exists():
        return
    hint = "pass --force to replace it, or --out to write elsewhere"
    try:
        existing = json.loads(meta_path(out).read_text())
        if not isinstance(existing, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise ValueError(f"{out} exists and its settings are unknown (no readable {meta_path(out).name}: "
                         f"{type(err).__name__}); refusing to overwrite it: {hint}") from None
    differences = settings_differences(existing, planned_meta)
    if differences:
        raise ValueError(f"{out} exists and was made with other settings ({'; '.join(differences)}); "
                         f"refusing to overwrite it: {hint}")


def discover_and_save(task: Any, method: str, config: MethodConfig, out: Path, model_meta: dict,
                      graph: Any = None) -> tuple[Any, float]:
    """Run `method` on `task`, write the circuit to `out` and its `.meta.json`; (circuit, seconds).

    Both files are written atomically. A circuit with NaN / infinite scores raises CircuitFileError
    and nothing is written (the previous files, if any, stay as they were).
    """
    from circuits_benchmark.graph import CircuitFileError, non_finite_entries, write_circuit
    from circuits_benchmark.utils.atomic import finite_or_none, write_json

    graph = graph or task.graph()
    start = time.perf_counter()
    circuit = run_method(method, task, config, graph)
    seconds = time.perf_counter() - start
    bad = non_finite_entries(circuit, unscored_nodes=out.suffix.lower() != ".pt")
    if bad:
        shown = ", ".join(bad[:5]) + (f", ... ({len(bad)} in all)" if len(bad) > 5 else "")
        raise CircuitFileError(f"{method} produced non-finite scores (NaN or infinity): {shown}; "
                               f"nothing was written to {out}")
    meta = result_meta(task, method, config, out, model_meta, graph, seconds)
    # the old meta goes first: an interruption before the new one leaves a circuit without meta
    # (whose settings are unknown), never a circuit described by another run's meta
    meta_path(out).unlink(missing_ok=True)
    write_circuit(circuit, out)
    write_json(meta_path(out), finite_or_none(meta), indent=2, default=str)
    return circuit, seconds


def _method(args: argparse.Namespace) -> str:
    """The method: positional or MIB's --method; InterpBench's `eap --integrated-grad-steps N` is eap-ig-masks."""
    from circuits_benchmark.commands.upstream import note

    method = args.method
    if method is None and args.case:  # `run -i 3 acdc`: -i took the method name too
        from circuits_benchmark.commands.upstream import split_cases

        found = [c for c in split_cases(args.case) if c.lower() in method_names()]
        if len(found) == 1:
            method = found[0].lower()
            args.case = [c for c in split_cases(args.case) if c != found[0]]
    if args.method_option is not None:
        if method is not None and method != args.method_option:
            raise ValueError(f"two methods given: {method} and --method {args.method_option}")
        method = args.method_option
    if method is None:
        raise ValueError(f"give a method: main.py run METHOD (one of {', '.join(method_names())})")
    if args.integrated_grad and method == "eap":
        note(f"--integrated-grad-steps: InterpBench's EAP with integrated gradients (over edge masks) is our "
             f"eap-ig-masks; running eap-ig-masks with --ig-steps {args.ig_steps}")
        method = "eap-ig-masks"
    return method


def _method_config(args: argparse.Namespace, method: str, level: str) -> MethodConfig:
    """MethodConfig from the options, refusing sweep options of other methods."""
    from circuits_benchmark.commands.upstream import note

    fields: dict[str, Any] = {}
    if args.thresholds is not None:
        if method != "acdc":
            raise ValueError(f"--thresholds (-t/--threshold) are ACDC's; {method} scores every edge, so choose a "
                             "threshold when evaluating (eval auroc covers all of them)")
        fields["thresholds"] = list(args.thresholds)
    if args.lambdas is not None:
        if method == "sp":
            fields["lambdas"] = list(args.lambdas)
        elif method == "ugs" and len(args.lambdas) == 1:
            fields["reg_lambda"] = float(args.lambdas[0])
        else:
            raise ValueError(f"--lambdas (--lambda-reg) are subnetwork probing's (sp; ugs takes one value); "
                             f"not {method}'s")
    for name in ("epochs", "lr"):
        value = getattr(args, name)
        if value is None:
            continue
        if learns(method, args.ablation):
            fields[name] = value
        else:
            note(f"--{name}: {method} trains nothing; the value is not used")
    return MethodConfig(level=level, ablation=args.ablation, metric=args.metric, batch_size=args.batch_size,
                        ig_steps=args.ig_steps, seed=args.seed, progress=not args.no_progress, **fields)


def _cases(args: argparse.Namespace) -> list[Optional[str]]:
    """The cases to run: -i (comma / space separated, `all`); with --model interpbench and no -i, every case
    InterpBench has (those in --models-root, or all of ours from the hub)."""
    from circuits_benchmark.cases import case_ids
    from circuits_benchmark.commands.upstream import note, split_cases
    from circuits_benchmark.models import interpbench_cases, interpbench_dir

    cases = split_cases(args.case)
    if args.checkpoint is not None or args.config is not None or args.tokens is not None:
        return cases[:1] or [None]
    if cases == ["all"] or (not cases and args.model == "interpbench"):
        local = interpbench_dir(args.interpbench_dir) if args.model == "interpbench" else None
        if local is not None:
            found = interpbench_cases(local)
            if not found:
                raise ValueError(f"no InterpBench model of any case under {local} (expected {local}/{{case}}/ll_model.pth)")
            note(f"InterpBench models in {local}: cases {', '.join(found)}")
            return list(found)
        return list(case_ids())
    return list(cases) or [None]


def run(args: argparse.Namespace) -> int:
    from circuits_benchmark.cases import UnknownCaseError
    from circuits_benchmark.commands.upstream import resolve_ablation
    from circuits_benchmark.models import HubUnavailableError
    from circuits_benchmark.utils.device import resolve_device

    method = _method(args)
    args.ablation = resolve_ablation(args.ablation, mib_style=args.method_option is not None)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    args.level = args.level or get_method(method).levels[0]
    config = _method_config(args, method, args.level)
    cases = _cases(args)
    if args.out is not None and len(cases) > 1:
        raise ValueError("--out names one file: give one case (or use --results-dir)")
    failed: list[str] = []
    for case in cases:
        torch.manual_seed(args.seed)
        try:
            _run_case(args, method, config, case, device)
        except HubUnavailableError:
            raise  # the same for every case
        except (ValueError, UnknownCaseError, FileNotFoundError) as err:
            if len(cases) == 1:
                raise
            failed.append(str(case))
            print(f"case {case}: FAILED: {err}", file=sys.stderr, flush=True)
    if failed:
        print(f"error: {len(failed)} of {len(cases)} cases failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _run_case(args: argparse.Namespace, method: str, config: MethodConfig, case: Optional[str],
              device: torch.device) -> tuple[Any, Path, Any]:
    """Run ``method`` on one case and write its files; (circuit, circuit file, models.Subject or None)."""
    task, label, folder, case_id, subject = _subject(args, case, device)
    out = args.out or folder / f"{method}_{args.level}_{args.ablation}.json"
    model_meta = {"kind": label, "case": case_id, "run": args.run,
                  "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
                  "tokens": None if args.tokens is None else str(args.tokens)}
    check_overwrite(out, result_meta(task, method, config, out, model_meta, task.graph()), args.force)
    circuit, seconds = discover_and_save(task, method, config, out, model_meta)
    print(summary(circuit, method, task.name, seconds, args.top))
    print(f"wrote {out} and {meta_path(out)}", flush=True)
    return circuit, out, subject


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
