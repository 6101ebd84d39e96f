"""`main.py eval iit -i CASE`: load a stored LL model and report IIA, strict accuracy and accuracy.

Also prints the accuracy when everything outside the true circuit (every head and MLP aligned to
no RASP node) is resample-ablated at once, and the per-node breakdown.

`-i ioi` (and InterpBench's `eval ioi`) evaluates the stored IOI model the same way;
`--categorical-metric kl_div|kl_div_self` adds InterpBench's per-node KL effects (categorical cases).
"""

from __future__ import annotations

import argparse

import torch

from circuits_benchmark.commands.arguments import add_device_arg, positive_int
from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN
from circuits_benchmark.training.trainer import GATE_PAIRS, GATE_SEED


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `eval` with the single sub-subcommand `iit` (use `add_subparser` to share `eval`)."""
    p = subparsers.add_parser("eval", help="evaluate circuits and trained models")
    sub = p.add_subparsers(dest="eval_command", required=True)
    add_subparser(sub)


CATEGORICAL_METRICS = ("accuracy", "kl_div", "kl_div_self")


def add_subparser(eval_subparsers: argparse._SubParsersAction) -> None:
    """Register `iit` (and InterpBench's `ioi`, the same on the IOI model) under an existing `eval` subcommand."""
    from circuits_benchmark.commands.upstream import UPSTREAM_EPILOG, add_alias

    p = eval_subparsers.add_parser("iit", help="IIA / strict accuracy / accuracy of a stored SIIT model",
                                   epilog=UPSTREAM_EPILOG)
    p.add_argument("-i", "--case", default=None,
                   help="case id (required), or ioi (the simplified IOI model, `main.py train ioi`)")
    add_alias(p, "--indices", dest="case")
    _add_iit_args(p)
    p = eval_subparsers.add_parser(
        "ioi", help="InterpBench's `eval ioi`: `eval iit -i ioi` (the IOI model's IIA, strict accuracy, accuracy)",
        description="The IIT evaluation of the stored IOI model: the same as `eval iit -i ioi`.", epilog=UPSTREAM_EPILOG)
    _add_iit_args(p)
    p.set_defaults(case="ioi")


def _add_iit_args(p: argparse.ArgumentParser) -> None:
    from circuits_benchmark.commands.upstream import add_alias, add_note, run_name

    p.add_argument("--run", type=run_name, default=DEFAULT_RUN,
                   help=f"run name (default {DEFAULT_RUN}; `best` = the stored run: our training keeps the best epoch)")
    add_alias(p, "-w", "--siit-weights", dest="run", type=run_name)
    p.add_argument("--root", default=None, help=f"model store root (default {DEFAULT_ROOT})")
    add_alias(p, "--models-root", dest="root")
    p.add_argument("--interp-bench", action="store_true",
                   help="InterpBench's published model (--interpbench-dir, or the Hugging Face hub "
                        "cybershiptrooper/InterpBench)")
    p.add_argument("--interpbench-dir", default=None,
                   help="a local copy of InterpBench's models ({dir}/{case}/ll_model.pth, ll_model_cfg.pkl; default "
                        "$INTERPBENCH_DIR, else the hub)")
    p.add_argument("--next-token", action="store_true", help="IOI: the next-token model (ioi_next_token)")
    p.add_argument("--include-mlp", action="store_true",
                   help="IOI: the circuit with MLP 0 (must be how the stored model was trained)")
    p.add_argument("-n", "--n-samples", type=positive_int, default=GATE_PAIRS,
                   help=f"(base, source) pairs to evaluate on (default {GATE_PAIRS}, the quality gate's)")
    p.add_argument("--seed", type=int, default=GATE_SEED, help=f"default {GATE_SEED}, the quality gate's")
    p.add_argument("--atol", type=float, default=0.05, help="tolerance of numerical outputs")
    p.add_argument("--categorical-metric", choices=CATEGORICAL_METRICS, default="accuracy",
                   help="per-node effect of resample-ablating each node (categorical cases): accuracy (default: IIA "
                        "per HL node and strict accuracy per LL node), kl_div (InterpBench's KL to the HL output, "
                        "normalised by the source run's), kl_div_self (KL to the LL model's own output)")
    add_device_arg(p)
    p.add_argument("--per-node", action="store_true", help="also print IIA per HL node and strict accuracy per LL node")
    add_note(p, "--load-from-wandb",
             message="models are read from the local store (--root); copy a wandb run's ll_model_{run}.pth and "
                     "ll_model_cfg_{run}.pkl into {root}/{case}/ to use it")
    add_note(p, "--use-wandb", message="results are printed, not logged to wandb")
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


def _print_metrics(metrics: dict, per_node: bool) -> None:
    for label, key in (("IIA", "iia"), ("strict accuracy", "strict_accuracy"), ("accuracy", "accuracy"),
                       ("accuracy, all non-circuit ablated", "circuit_accuracy")):
        print(f"  {label:38s}{metrics[key]:.2%}")
    if per_node:
        for key, value in metrics.items():
            if "/" in key:
                kind, name = key.split("/", 1)
                print(f"  {kind:6s} {name:32s} {value:.2%}")


def run(args: argparse.Namespace) -> int:
    from circuits_benchmark.models import is_ioi

    if args.case is None:
        raise ValueError("give a case with -i CASE (or -i ioi)")
    if is_ioi(args.case):
        return run_ioi(args)
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.commands.upstream import note
    from circuits_benchmark.models import interpbench_dir, load_interpbench
    from circuits_benchmark.training import evaluate_model, load_ll_model
    from circuits_benchmark.utils.device import resolve_device

    if args.next_token or args.include_mlp:
        raise ValueError("--next-token and --include-mlp apply to the IOI model (-i ioi) only")
    case = get_case(args.case)
    device = resolve_device(args.device)
    run_label = args.run or DEFAULT_RUN
    if args.interp_bench:
        stored = load_interpbench(case.case_id, interpbench_dir(args.interpbench_dir), device=device)
        source, run_label = f"InterpBench {stored.folder}", "published"
    else:
        try:
            stored = load_ll_model(case.case_id, run_label, args.root or DEFAULT_ROOT, device=device)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err}: train it with `main.py train iit -i {case.case_id} --run {run_label}` "
                                    f"(InterpBench's weights -iit/-s/-b name the run), or pass --root / --run") from err
        source = str(stored.folder)
    compiled = compile_case(case, device=device)
    check_fits_case(compiled, stored.cfg)
    metrics = evaluate_model(case, stored.model, n=args.n_samples, seed=args.seed, atol=args.atol, compiled=compiled)
    print(f"case {case.case_id} ({case.output_kind}), model {source}, run {run_label}: {args.n_samples} pairs")
    _print_metrics(metrics, args.per_node)
    if args.categorical_metric != "accuracy":
        if not case.is_categorical:
            note(f"--categorical-metric {args.categorical_metric}: case {case.case_id} is numerical; node effects of "
                 "numerical cases are measured by accuracy within --atol (as upstream), shown above")
        else:
            effects = kl_node_effects(compiled, stored.model, args.categorical_metric, args.n_samples, args.seed,
                                      args.atol)
            print(f"  per-node effect of resample ablation ({args.categorical_metric}, InterpBench's normalisation; "
                  "0 = no effect, 1 = as much as running on the source input):")
            for name, (in_circuit, value) in effects.items():
                print(f"  {'circuit' if in_circuit else 'outside':8s} {name:10s} {value:.4f}")
    return 0


@torch.no_grad()
def kl_node_effects(compiled, ll_model, metric: str, n: int, seed: int, atol: float = 0.05,
                    batch_size: int = 512) -> dict[str, tuple[bool, float]]:
    """InterpBench's KL node effects (iit's `resample_ablate_node` with `kl_div` / `kl_div_self`).

    For each LL node (every head and MLP), resample-ablate it alone (its value from the source run)
    and measure per compared position, over positions whose HL label differs between base and source:

    * kl_div: ``(KL(ablated, HL) - KL(clean, HL)) / (KL(source run, HL) - KL(clean, HL))``;
    * kl_div_self: ``KL(ablated, LL clean) / KL(source run, LL clean)``,

    where ``KL(x, y) = KL(p_y || softmax(x))`` over the output vocabulary, ``p_y`` being ``y`` itself when
    it is already a distribution at the compared positions (the Tracr model's one-hot outputs), else
    ``softmax(y)`` (iit's ``eval_metrics.kl_div``). Returns ``{node name: (in the circuit, mean effect)}``,
    circuit nodes first.
    """
    import torch.nn.functional as F

    from circuits_benchmark.training.trainer import TrainConfig, build_pair, make_data

    device = next(ll_model.parameters()).device
    pair = build_pair(compiled, TrainConfig(atol=atol), device, ll_model)
    base_all, source_all = make_data(compiled, n, seed)
    inside = set(pair.corr.circuit_components)
    components = sorted(pair.corr.all_components, key=lambda c: (c not in inside, c.layer, c.kind, c.head or 0))
    sums = {c.name: 0.0 for c in components}
    count = 0

    def pmf(y: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        sums = y[positions].sum(-1)
        return y if torch.allclose(sums, torch.ones_like(sums)) and bool((y >= 0).all()) else y.softmax(-1)

    def kl(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # per position; target: a distribution
        return F.kl_div(x.log_softmax(-1), target, reduction="none").sum(-1)

    for start in range(0, base_all.shape[0], batch_size):
        base, source = base_all[start:start + batch_size], source_all[start:start + batch_size]
        hl_base, hl_source = pair.hl_output(base), pair.hl_output(source)
        positions = pair.defined(hl_base, pair.positions(base)) & (hl_base.argmax(-1) != hl_source.argmax(-1))
        if not positions.any():
            continue
        ll_base, ll_source = pair.ll_output(base), pair.ll_output(source)
        reference = pmf(hl_base if metric == "kl_div" else ll_base, positions)
        floor = kl(ll_base, reference) if metric == "kl_div" else torch.zeros_like(positions, dtype=ll_base.dtype)
        scale = kl(ll_source, reference) - floor + 1e-12
        cache, _ = pair.source_caches(source, components)
        for c in components:
            ablated = pair.ll_intervened(base, source, [c], cache)
            sums[c.name] += float(((kl(ablated, reference) - floor) / scale)[positions].sum())
        count += int(positions.sum())
    return {c.mib_name: (c in inside, sums[c.name] / max(count, 1)) for c in components}


def run_ioi(args: argparse.Namespace) -> int:
    """`eval iit -i ioi` / InterpBench's `eval ioi`: the stored IOI model on fresh prompt pairs."""
    from circuits_benchmark.ioi import config_from_meta, evaluate_ioi_model
    from circuits_benchmark.models import load_ioi_for_study, load_interpbench, ioi_case_id
    from circuits_benchmark.utils.device import resolve_device

    case_id = ioi_case_id(args.case, args.next_token)
    if args.interp_bench:
        load_interpbench(case_id)  # refused with the reason
    if args.categorical_metric != "accuracy":
        raise ValueError("--categorical-metric kl_div / kl_div_self: the IOI evaluation reports accuracies only")
    device = resolve_device(args.device)
    stored = load_ioi_for_study(case_id, args.run, args.root, device)
    config = config_from_meta(stored.meta)
    if bool(config.include_mlp) != bool(args.include_mlp):
        trained = "with" if config.include_mlp else "without"
        raise ValueError(f"the stored {case_id} model (run {args.run or DEFAULT_RUN}) was trained {trained} "
                         f"--include-mlp; evaluate it {trained} --include-mlp (or train the other one with "
                         f"`main.py train ioi{' --next-token' if args.next_token else ''}"
                         f"{'' if config.include_mlp else ' --include-mlp'}`)")
    metrics = evaluate_ioi_model(stored.model, config, n=args.n_samples, seed=args.seed)
    print(f"{case_id}{' (with MLP 0)' if config.include_mlp else ''}, model {stored.folder}, run "
          f"{args.run or DEFAULT_RUN}: {args.n_samples} prompt pairs")
    _print_metrics(metrics, args.per_node)
    return 0
