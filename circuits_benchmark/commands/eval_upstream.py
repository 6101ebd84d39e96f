"""InterpBench's evaluation commands, mapped onto ours (InterpBench's README / EXPERIMENTS.md run as written).

* ``eval gt_node_realism``: our ``eval realism`` (its true-circuit score: every node outside the
  true circuit ablated at once; zero ablation unless ``--mean``, ``--relative`` as upstream).
* ``eval node_realism --algorithm acdc|node_sp|edge_sp|eap``: ``eval realism --circuit FILE
  --circuit-threshold V`` on the circuit ``main.py run`` wrote for that method (V: ``-t`` for ACDC /
  EAP, ``--lambda-reg`` for SP, as upstream picks its result folder).
* ``eval iit_acdc`` / ``eval ioi_acdc``: ``main.py run acdc --thresholds T`` on the model, then the
  circuit's TPR / FPR against the true circuit (nodes, edges; heads for trained models).

Like upstream, these default to the SIIT model (``-w best``); ``--tracr`` / ``--interp-bench`` /
``-w RUN`` pick another. ``eval ioi`` is in ``eval_iit`` (``eval iit -i ioi``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from circuits_benchmark.commands.arguments import add_device_arg, device_name, non_negative_int, positive_int
from circuits_benchmark.evaluation.results import DEFAULT_CIRCUITS_DIR, DEFAULT_EVAL_DIR

ALGORITHMS = {"acdc": ("acdc", "edge"), "node_sp": ("sp", "node"), "edge_sp": ("sp", "edge"), "eap": ("eap", "edge")}
"""InterpBench's --algorithm -> (our method, level) of the circuit file `main.py run` writes."""


def add_parsers(eval_subparsers: argparse._SubParsersAction) -> None:
    """Register `gt_node_realism`, `node_realism`, `iit_acdc` and `ioi_acdc` under `eval`."""
    p = eval_subparsers.add_parser(
        "gt_node_realism", help="InterpBench's: `eval realism` score with every node outside the true circuit ablated",
        description="InterpBench's gt_node_realism: keep the true circuit's nodes, ablate every other head and MLP "
                    "at once (zero ablation, --mean: mean ablation) and score the model (--relative 1: the share of "
                    "its right outputs kept). Our `eval realism` on that model; writes {out}/realism_case_{id}.json.")
    _add_realism_mapping_args(p)
    p.set_defaults(func=run_gt_node_realism)

    p = eval_subparsers.add_parser(
        "node_realism", help="InterpBench's: `eval realism --circuit FILE` on a discovered circuit's nodes",
        description="InterpBench's node_realism: the same score as gt_node_realism for the nodes of the circuit "
                    "`main.py run` found with --algorithm (acdc: at threshold -t; node_sp / edge_sp: at --lambda-reg; "
                    "eap: scores >= -t), read from --results-dir (or --circuit-file).")
    _add_realism_mapping_args(p)
    p.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="acdc",
                   help="the method whose circuit to score (default acdc)")
    p.add_argument("-t", "--threshold", type=float, default=None,
                   help="acdc / eap: the circuit at this threshold (default 0.025, InterpBench's)")
    p.add_argument("--lambda-reg", type=float, default=None, help="node_sp / edge_sp: the circuit at this lambda "
                   "(default 1.0, InterpBench's)")
    p.add_argument("--results-dir", "--circuit-dir", dest="results_dir", type=Path, default=DEFAULT_CIRCUITS_DIR,
                   help=f"where `main.py run` wrote the circuits (default {DEFAULT_CIRCUITS_DIR})")
    p.add_argument("--circuit-file", type=Path, default=None, help="this circuit file instead")
    _refuse(p, "--use-iit-model", "our stores hold one model per run name: pick it with -w RUN")
    p.set_defaults(func=run_node_realism)

    for name in ("iit_acdc", "ioi_acdc"):
        ioi = name == "ioi_acdc"
        p = eval_subparsers.add_parser(
            name, help=f"InterpBench's: ACDC at one threshold on the {'IOI' if ioi else 'SIIT'} model, then its "
                       "TPR / FPR against the true circuit",
            description="`main.py run acdc --thresholds T` on the model (written to --results-dir as `run` does), "
                        "then the TPR / FPR of the ACDC circuit against the true circuit at node and edge level "
                        "(and head level for trained models); written to "
                        f"{{out}}/{name}_case_{{id}}_{{model}}_threshold_{{T}}.json.")
        _add_acdc_mapping_args(p, ioi)
        p.set_defaults(func=run_acdc_tpr_fpr, case="ioi" if ioi else None, upstream_command=name)


def _refuse(p: argparse.ArgumentParser, flag: str, message: str, takes_value: bool = False) -> None:
    from circuits_benchmark.commands.upstream import add_refusal

    add_refusal(p, flag, message=message, takes_value=takes_value)


def _add_model_args(p: argparse.ArgumentParser, run_flags: tuple[str, ...] = ()) -> None:
    """Which model: upstream's default is the SIIT model (best run); --tracr, --interp-bench, -w RUN."""
    from circuits_benchmark.commands.upstream import add_model_aliases
    from circuits_benchmark.models import MODEL_KINDS

    p.add_argument("--model", choices=MODEL_KINDS, default="siit",
                   help="tracr, siit (default, as upstream) or interpbench")
    from circuits_benchmark.commands.upstream import run_name

    p.add_argument("--run", *run_flags, dest="run", type=run_name, default=None,
                   help="SIIT run name (default: the store's, 510; InterpBench's -w best)")
    add_model_aliases(p, MODEL_KINDS, mib_models=False)
    p.add_argument("--models-root", default=None, help="SIIT model store (default: the shipped models)")
    p.add_argument("--interpbench-dir", default=None,
                   help="local copy of InterpBench's models (default $INTERPBENCH_DIR, else the hub)")
    _refuse(p, "--natural", "naturally trained models are not part of this benchmark: train one with "
                            "`main.py train iit -i CASE --model-pair behavior` and pick it with -w RUN")
    _refuse(p, "--same-size", "pick a same-size model by its run name (-w RUN), trained with "
                              "`main.py train iit --same-size --run RUN`")


def _add_realism_mapping_args(p: argparse.ArgumentParser) -> None:
    from circuits_benchmark.commands.upstream import add_note

    p.add_argument("-i", "--case", "--indices", dest="case", required=True, help="case id, or ioi")
    _add_model_args(p)
    p.add_argument("--next-token", action="store_true", help="with -i ioi: the next-token IOI model")
    p.add_argument("-m", "--mean", action="store_true", help="mean ablation (default: zero ablation, as upstream)")
    p.add_argument("--relative", type=int, choices=[0, 1], default=1,
                   help="1: the share of the model's right outputs kept (default); 0: accuracy")
    p.add_argument("-n", "--n-examples", "--max-len", dest="n_examples", type=positive_int, default=256,
                   help="examples (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", "-o", "--output-dir", dest="out", type=Path, default=DEFAULT_EVAL_DIR,
                   help=f"output folder (default {DEFAULT_EVAL_DIR})")
    add_device_arg(p)
    p.add_argument("-d", dest="device", type=device_name, help=argparse.SUPPRESS)
    add_note(p, "--batch_size", "--batch-size", takes_value=True,
             message="the whole example set runs in one engine pass here")
    add_note(p, "-wandb", "--use-wandb", message="results are printed and written to --out, not logged to wandb")


def _realism_namespace(args: argparse.Namespace, circuit: Optional[Path] = None,
                       threshold: Optional[float] = None) -> argparse.Namespace:
    label = _label(args)
    return argparse.Namespace(
        case=args.case, models=[label], ablation="mean" if args.mean else "zero", metric=None,
        n_examples=args.n_examples, seed=args.seed, models_root=args.models_root, run=None,
        interpbench_dir=args.interpbench_dir, next_token=args.next_token, relative=args.relative,
        circuit=circuit, circuit_threshold=threshold, out=args.out, device=args.device)


def _label(args: argparse.Namespace) -> str:
    """The results folder of the chosen model: tracr, interpbench, siit or siit_{run}."""
    if args.model == "siit" and args.run is not None:
        return f"siit_{args.run}"
    return args.model


def run_gt_node_realism(args: argparse.Namespace) -> int:
    from circuits_benchmark.commands.eval_circuits import run_realism

    return run_realism(_realism_namespace(args))


def run_node_realism(args: argparse.Namespace) -> int:
    from circuits_benchmark.commands.eval_circuits import run_realism
    from circuits_benchmark.commands.upstream import note
    from circuits_benchmark.models import ioi_case_id, is_ioi

    method, level = ALGORITHMS[args.algorithm]
    if method == "sp":
        if args.threshold is not None:
            note(f"-t: {args.algorithm}'s circuit is picked by --lambda-reg (as upstream), not by -t")
        value = 1.0 if args.lambda_reg is None else args.lambda_reg
    else:
        if args.lambda_reg is not None:
            note(f"--lambda-reg: {args.algorithm}'s circuit is picked by -t (as upstream), not by --lambda-reg")
        value = 0.025 if args.threshold is None else args.threshold
    case_id = ioi_case_id(args.case, args.next_token) if is_ioi(args.case) else str(args.case)
    label = _label(args)
    path = args.circuit_file or args.results_dir / label / f"case_{case_id}" / f"{method}_{level}_patching.json"
    if not path.exists():
        model = {"tracr": " --tracr", "interpbench": " --interp-bench"}.get(args.model, f" -w {args.run or 'best'}")
        option = "--lambda-reg" if method == "sp" else "--threshold" if method == "acdc" else ""
        value_flag = f" {option} {value:g}" if option else ""
        edgewise = " --edgewise" if args.algorithm == "edge_sp" else ""
        raise ValueError(f"no circuit file {path}: run `main.py run {method} -i {args.case}{model}{edgewise}"
                         f"{value_flag}` first (or pass --circuit-file / --results-dir)")
    return run_realism(_realism_namespace(args, path, value))


def _add_acdc_mapping_args(p: argparse.ArgumentParser, ioi: bool) -> None:
    from circuits_benchmark.commands.upstream import add_note

    if not ioi:
        p.add_argument("-i", "--case", "--indices", dest="case", required=True, help="case id, or ioi")
    # upstream ioi_acdc names the IOI run -w/--weights
    _add_model_args(p, ("--weights",) if ioi else ())
    p.add_argument("--next-token", action="store_true", help="IOI: the next-token model (ioi_next_token)")
    p.add_argument("--include-mlp", action="store_true",
                   help="IOI: the circuit with MLP 0 (must be how the stored model was trained)")
    p.add_argument("-t", "--threshold", type=float, default=0.025, help="ACDC's threshold (default 0.025)")
    p.add_argument("-n", "--n-examples", "--data-size", dest="n_examples", type=positive_int, default=64,
                   help="clean / corrupted examples (default 64)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="circuits per forward pass")
    p.add_argument("--seed", type=int, default=0)
    add_device_arg(p)
    p.add_argument("-d", dest="device", type=device_name, help=argparse.SUPPRESS)
    p.add_argument("--threads", "--torch-num-threads", dest="threads", type=non_negative_int, default=1,
                   help="torch CPU threads (0: all)")
    p.add_argument("--results-dir", "-o", "--output-dir", dest="results_dir", type=Path, default=DEFAULT_CIRCUITS_DIR,
                   help=f"where the ACDC circuit is written, as `main.py run` does (default {DEFAULT_CIRCUITS_DIR})")
    p.add_argument("--out", type=Path, default=DEFAULT_EVAL_DIR, help=f"folder of the TPR / FPR file (default "
                   f"{DEFAULT_EVAL_DIR})")
    p.add_argument("--force", action="store_true", help="replace a circuit file made with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_note(p, "-wandb", "--using_wandb", "--using-wandb",
             message="results are printed and written to --out, not logged to wandb")
    add_note(p, "--max-num-epochs", takes_value=True,
             message="our ACDC always visits every node (no early stop after N steps); the option is not applied")
    add_note(p, "--use-pos-embed",
             message="our graphs always have one input node holding token and position embeddings")


def run_acdc_tpr_fpr(args: argparse.Namespace) -> int:
    """ACDC at ``-t`` on the model (our `run acdc --thresholds T`), then TPR / FPR against the truth."""
    import torch

    from circuits_benchmark.commands.run import _run_case
    from circuits_benchmark.evaluation.auroc import confusion
    from circuits_benchmark.methods import MethodConfig
    from circuits_benchmark.models import ioi_case_id, is_ioi, load_ioi_for_study
    from circuits_benchmark.utils.atomic import finite_or_none, write_json
    from circuits_benchmark.utils.device import resolve_device

    if not is_ioi(args.case) and (args.next_token or args.include_mlp):
        raise ValueError("--next-token and --include-mlp apply to the IOI model (-i ioi) only")
    if is_ioi(args.case):
        from circuits_benchmark.ioi import config_from_meta

        case_id = ioi_case_id(args.case, args.next_token)
        trained_with = bool(config_from_meta(load_ioi_for_study(case_id, args.run, args.models_root).meta).include_mlp)
        if trained_with != bool(args.include_mlp):
            raise ValueError(f"the stored {case_id} model was trained {'with' if trained_with else 'without'} "
                             f"--include-mlp, so its true circuit is {'with' if trained_with else 'without'} MLP 0: "
                             f"pass the same flag (or train the other model with `main.py train ioi`)")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    threshold = float(args.threshold)
    config = MethodConfig(level="edge", ablation="patching", batch_size=args.batch_size, seed=args.seed,
                          thresholds=[threshold], progress=not args.no_progress)
    run_args = argparse.Namespace(
        checkpoint=None, config=None, tokens=None, n_examples=args.n_examples, results_dir=args.results_dir,
        model=args.model, run=args.run, models_root=args.models_root, next_token=args.next_token,
        interpbench_dir=args.interpbench_dir, seed=args.seed, out=None, level="edge", ablation="patching",
        force=args.force, top=10)
    circuit, path, subject = _run_case(run_args, "acdc", config, args.case, device)
    truth = subject.truth(circuit.graph, "patching")
    found = circuit.threshold(threshold, absolute=False)
    levels = ["node", "edge"] + (["head"] if subject.head_level_truth else [])
    results = {level: confusion(found, truth, level) for level in levels}

    def rate(value: Optional[float]) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    what = subject.case_id if subject.is_ioi else f"case {subject.case_id}"
    print(f"ACDC at threshold {threshold:g} on {what} ({subject.label}): {found.n_edges} of "
          f"{circuit.graph.n_edges} edges, true circuit {truth.n_edges} edges")
    for level, r in results.items():
        print(f"  {level:5s} TPR {rate(r['tpr'])}  FPR {rate(r['fpr'])}  (TP {r['tp']}, FP {r['fp']}, FN {r['fn']}, "
              f"TN {r['tn']})")
    out = args.out / f"{args.upstream_command}_case_{subject.case_id}_{subject.label}_threshold_{threshold:g}.json"
    write_json(out, finite_or_none({"command": args.upstream_command, "case": subject.case_id, "model": subject.label,
                                    "threshold": threshold, "circuit_file": str(path), "n_edges": found.n_edges,
                                    "n_true_edges": truth.n_edges, "confusion": results}), indent=1)
    print(f"wrote {out}")
    return 0

