"""`main.py train iit -i CASE`: SIIT / IIT / behaviour training of an LL model; `train ioi`: the simplified IOI model."""

from __future__ import annotations

import argparse

from circuits_benchmark.commands.arguments import add_device_arg, non_negative_int, positive_int
from circuits_benchmark.commands.upstream import add_alias, add_note
from circuits_benchmark.training.pair import STRICT_SAMPLING
from circuits_benchmark.training.store import DEFAULT_ROOT
from circuits_benchmark.training.trainer import IIT_SAMPLING

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train models with SIIT / IIT / behaviour losses")
    sub = p.add_subparsers(dest="train_command", required=True)
    _add_iit_parser(sub)
    _add_ioi_parser(sub)


def _add_iit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "iit",
        help="train LL models on Tracr cases (SIIT by default)",
        description="Train a low-level HookedTransformer, shaped as InterpBench shapes it (at least 2 layers and "
        "4 heads), so that its heads/MLPs at the Tracr positions implement the case's RASP nodes (IIT), nodes "
        "outside the circuit have no effect (strict / SIIT), and its outputs equal the Tracr model's "
        "(behaviour). Defaults are InterpBench's. Each model is checked on 1,000 fresh pairs (the quality "
        "gate: IIA, strict accuracy and accuracy >= 99%%) and stored with the result. With several cases, "
        "stored models are skipped (so an interrupted run resumes) and a failing case never stops the others.",
    )
    p.add_argument("-i", "--case", required=True,
                   help="case id(s), comma separated, or `all` (every InterpBench case; see `main.py cases`)")
    p.add_argument("--model-pair", choices=["strict", "iit", "behavior"], default="strict",
                   help="strict = SIIT (IIT + strict + behaviour), iit = no strict loss, behavior = behaviour only")
    _add_loss_args(p, strict_sampling="one+all",
                   sampling_help="one+all: one at random, and all together in a second run; InterpBench's is one")
    p.add_argument("--strict-weight-twice", action="store_true",
                   help="multiply the strict weight in twice, as InterpBench does (0.4 then acts as 0.16); "
                   "default: once")
    p.add_argument("--strict-source-grads", action=argparse.BooleanOptionalAction, default=True,
                   help="the strict loss also back-propagates through the source run of the ablated nodes, so "
                   "they learn directly to carry nothing the output needs (default on; --no-strict-source-grads "
                   "detaches that run, as InterpBench does)")
    p.add_argument("--single-loss", action="store_true", help="one optimiser step on the summed losses")
    p.add_argument("--epochs", type=positive_int, default=500, help="epoch limit (default 500)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--beta1", type=float, default=0.9, help="Adam beta1 (default 0.9)")
    p.add_argument("--beta2", type=float, default=0.9, help="Adam beta2 (default 0.9, InterpBench's)")
    p.add_argument("--lr-scheduler", choices=["", "plateau", "linear"], default="",
                   help="'' none (default), plateau (halve on a plateau of the gated metrics), linear (decay to 0)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="default 256")
    p.add_argument("--n-train", type=positive_int, default=8000, help="training (base, source) pairs (default 8000)")
    add_alias(p, "--num-samples", dest="n_train", type=positive_int)
    p.add_argument("--n-test", type=positive_int, default=1000, help="held-out pairs for the per-epoch metrics (default 1000)")
    p.add_argument("--clip-grad-norm", type=float, default=0.1, help="gradient clipping norm (default 0.1; 0 disables)")
    p.add_argument("--same-size", action="store_true",
                   help="LL model with the Tracr model's layers and heads (InterpBench's --same-size)")
    p.add_argument("--d-model", type=positive_int, default=None, help="LL residual width (default: InterpBench's shape)")
    p.add_argument("--d-head", type=positive_int, default=None, help="default: InterpBench's shape, or d_model // n_heads")
    p.add_argument("--d-mlp", type=positive_int, default=None, help="default 4 * d_model")
    p.add_argument("--n-heads", type=positive_int, default=None, help="default max(4, the Tracr model's)")
    p.add_argument("--n-layers", type=positive_int, default=None, help="default max(2, the Tracr model's)")
    p.add_argument("--act-fn", default="gelu", help="default gelu")
    p.add_argument("--atol", type=float, default=0.05, help="tolerance of numerical outputs (default 0.05)")
    _add_run_args(p)
    p.add_argument("--early-stop", action=argparse.BooleanOptionalAction, default=True,
                   help="stop when IIA, strict accuracy and accuracy reach --early-stop-threshold (default on)")
    p.add_argument("--early-stop-threshold", type=float, default=0.995, help="default 0.995 (InterpBench's)")
    p.add_argument("--max-minutes", type=float, default=None, help="time limit per case")
    p.add_argument("--workers", type=positive_int, default=1, help="cases trained in parallel by a process pool (default 1)")
    p.add_argument("--retry-failed", action="store_true",
                   help="train again the stored models that fail the quality gate (default: every stored model is kept)")
    p.add_argument("--restart-failed", action="store_true",
                   help="as --retry-failed, but from a fresh initialisation instead of the stored weights (for a new "
                   "recipe); the new model replaces the stored one only if it does better on the gate")
    p.add_argument("--restart-insufficient", action="store_true",
                   help="train again from a fresh initialisation the stored models that pass the gate but keep < 95%% "
                   "accuracy with every outside node ablated; the new model replaces the stored one only if it "
                   "passes and keeps more")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="train on Ray (a local instance, or the cluster at ADDRESS)")
    p.add_argument("--wandb", action="store_true", help="log to wandb in offline mode (never online)")
    add_alias(p, "--use-wandb", dest="wandb", action="store_true")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_note(p, "--save-model-to-wandb", message="models are stored in --output-dir ({output-dir}/{case}/"
                                                 "ll_model_{run}.pth), not uploaded to wandb")
    p.set_defaults(func=run_iit)


def _train_config(args: argparse.Namespace):
    from circuits_benchmark.training import TrainConfig

    return TrainConfig(
        model_pair=args.model_pair, iit_weight=args.iit_weight, strict_weight=args.strict_weight,
        behavior_weight=args.behavior_weight, strict_sampling=args.strict_sampling, single_loss=args.single_loss,
        strict_weight_twice=args.strict_weight_twice, strict_source_grads=args.strict_source_grads,
        iit_source_grads=args.iit_source_grads, iit_sampling=args.iit_sampling, epochs=args.epochs, lr=args.lr, beta1=args.beta1,
        beta2=args.beta2, lr_scheduler=args.lr_scheduler, batch_size=args.batch_size, n_train=args.n_train,
        n_test=args.n_test, clip_grad_norm=args.clip_grad_norm or None, same_size=args.same_size,
        d_model=args.d_model, d_head=args.d_head, d_mlp=args.d_mlp, n_heads=args.n_heads, n_layers=args.n_layers,
        act_fn=args.act_fn, atol=args.atol, seed=args.seed, early_stop=args.early_stop,
        early_stop_threshold=args.early_stop_threshold,
        max_seconds=args.max_minutes * 60 if args.max_minutes else None, device=args.device,
        cpu_threads=args.threads, wandb=args.wandb,
    )


def _describe(case_id: str, run: str, outcome: dict) -> str:
    if outcome.get("skipped"):
        return f"case {case_id} [run {run}]: already stored, skipped"
    g = outcome["gate"]
    verdict = "passes the gate" if g["passed"] else "FAILS the gate"
    return (f"case {case_id} [run {run}]: {outcome['epochs']} epochs in {outcome['seconds']:.1f}s, "
            f"ended by {outcome['stop_reason']}; on {g['pairs']} fresh pairs IIA {g['iia']:.2%}, strict accuracy "
            f"{g['strict_accuracy']:.2%}, accuracy {g['accuracy']:.2%}, all-outside-ablated accuracy "
            f"{g['circuit_accuracy']:.2%}: {verdict}")


def _write_manifest(root: str, run: str) -> None:
    from circuits_benchmark.training.manifest import write_manifest

    csv_path, md_path = write_manifest(root, run)
    print(f"manifest: {csv_path} and {md_path}")


def run_iit(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from circuits_benchmark.cases import case_ids, get_case
    from circuits_benchmark.training import train_and_store

    config = _train_config(args)
    run = args.run or config.run_name()
    ids = case_ids() if args.case.strip() == "all" else [get_case(c.strip()).case_id
                                                          for c in args.case.split(",") if c.strip()]
    if len(ids) == 1 and args.workers <= 1 and args.ray is None:
        print(_describe(ids[0], run, train_and_store(ids[0], config, args.output_dir, run,
                                                     progress=not args.no_progress, retry_failed=args.retry_failed,
                                                     restart=args.restart_failed,
                                                     restart_insufficient=args.restart_insufficient)))
        _write_manifest(args.output_dir, run)
        return 0
    from circuits_benchmark.bench.executors import run_jobs
    from circuits_benchmark.bench.jobs import TrainJob

    jobs = [TrainJob(c, args.output_dir, run, asdict(config), args.retry_failed, args.restart_failed,
                     args.restart_insufficient) for c in ids]
    failed = []

    def report(outcome) -> None:
        case_id = outcome.label.rsplit(" ", 1)[-1]
        if outcome.ok:
            print(_describe(case_id, run, {"skipped": outcome.skipped, **outcome.details}), flush=True)
            if not outcome.skipped:  # the manifest follows the store as models land
                from circuits_benchmark.training.manifest import write_manifest

                write_manifest(args.output_dir, run)
        else:
            failed.append(case_id)
            print(f"case {case_id}: FAILED after {outcome.seconds:.0f}s: {outcome.error.splitlines()[0]}", flush=True)

    try:
        run_jobs(jobs, args.workers, args.ray, "train", report)
    finally:
        _write_manifest(args.output_dir, run)
    if failed:
        print(f"{len(failed)} of {len(ids)} cases failed: {' '.join(failed)}")
        return 1
    return 0


def _add_ioi_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ioi",
        help="train the simplified IOI model with SIIT",
        description="Train a low-level HookedTransformer (6 layers x 4 heads, d_model 64 by default) on a "
        "word-level IOI task so that its layer-0 / 2 / 4 heads implement duplicate-token detection, "
        "S-inhibition and name moving (IIT), other heads and MLPs have no effect (strict / SIIT), and it "
        "predicts the indirect object (behaviour). Stored as {output-dir}/ioi/ll_model_{run}.pth.",
    )
    p.add_argument("--next-token", action="store_true",
                   help="also train next-token prediction at every template position (stored as ioi_next_token)")
    p.add_argument("--include-mlp", action="store_true", help="align the HL `names` node to MLP 0 (adds it to the circuit)")
    p.add_argument("--heads-per-node", type=positive_int, default=2, help="LL heads per HL head node (default 2)")
    _add_loss_args(p, strict_sampling="random-subset", sampling_help="a random subset")
    p.add_argument("--epochs", type=positive_int, default=500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--n-train", type=positive_int, default=8000, help="training prompts")
    add_alias(p, "--num-samples", dest="n_train", type=positive_int)
    p.add_argument("--n-test", type=positive_int, default=500, help="held-out prompts for the per-epoch metrics")
    p.add_argument("--d-model", type=positive_int, default=64)
    p.add_argument("--n-layers", type=positive_int, default=6)
    p.add_argument("--n-heads", type=positive_int, default=4)
    p.add_argument("--no-layernorm", action="store_true", help="no LayerNorm (default: pre-LN)")
    _add_run_args(p)
    p.add_argument("--early-stop", action=argparse.BooleanOptionalAction, default=True,
                   help="stop when IIA, strict accuracy and accuracy reach 99.5%% on the held-out prompts "
                        "(default on; the gate asks 99%% on 1,000 fresh ones)")
    p.add_argument("--max-minutes", type=float, default=None, help="time limit")
    p.add_argument("--retry-failed", action="store_true",
                   help="go on training the stored model if it fails the quality gate (from its weights; epochs and "
                   "seconds add up); a stored model that passes is kept")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_note(p, "--save-to-wandb", message="the model is saved to --output-dir ({output-dir}/ioi[_next_token]/"
                                           "ll_model_{run}.pth), not uploaded to wandb; upload that folder yourself")
    add_note(p, "--use-wandb", message="IOI training is not logged to wandb here (`train iit --wandb` logs offline)")
    p.set_defaults(func=run_ioi)


def run_ioi(args: argparse.Namespace) -> int:
    from circuits_benchmark.ioi import IOITrainConfig, ioi_quality_gate, save_ioi_result, train_ioi

    config = IOITrainConfig(
        next_token=args.next_token, include_mlp=args.include_mlp, heads_per_node=args.heads_per_node,
        iit_weight=args.iit_weight, strict_weight=args.strict_weight, behavior_weight=args.behavior_weight,
        strict_sampling=args.strict_sampling, iit_sampling=args.iit_sampling, iit_source_grads=args.iit_source_grads,
        epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, n_train=args.n_train, n_test=args.n_test, n_layers=args.n_layers, n_heads=args.n_heads,
        d_model=args.d_model, normalization_type=None if args.no_layernorm else "LN", seed=args.seed,
        early_stop=args.early_stop, max_seconds=args.max_minutes * 60 if args.max_minutes else None,
        device=args.device, cpu_threads=args.threads,
    )
    start_from, earlier = None, {}
    if args.retry_failed:
        from circuits_benchmark.training.store import passes_gate

        stored = _stored_ioi(config, args)
        if stored is not None and passes_gate(stored.meta):
            print(f"{config.case_id} [run {args.run or config.run_name()}]: the stored model passes the gate, kept")
            return 0
        if stored is not None:
            from circuits_benchmark.training.trainer import earlier_chunks

            start_from, earlier = stored.model, earlier_chunks(stored.meta)
    result = train_ioi(config, ll_model=start_from, progress=not args.no_progress)
    result.earlier = earlier
    g = ioi_quality_gate(result.ll_model, config)
    folder = save_ioi_result(result, args.output_dir, args.run, gate=g)
    verdict = "passes the gate" if g["passed"] else "FAILS the gate"
    print(
        f"{config.case_id} [run {args.run or config.run_name()}]: {result.epochs_run} epochs in {result.seconds:.1f}s, "
        f"ended by {result.stop_reason}; on {g['pairs']} fresh prompt pairs IIA {g['iia']:.2%}, strict accuracy "
        f"{g['strict_accuracy']:.2%}, accuracy {g['accuracy']:.2%}, all-outside-ablated accuracy "
        f"{g['circuit_accuracy']:.2%}: {verdict}; saved to {folder}"
    )
    return 0


def _stored_ioi(config, args: argparse.Namespace):
    """The stored IOI model `--retry-failed` continues, or None; its shape must be the one asked for."""
    from circuits_benchmark.training.store import stored_model

    run = args.run or config.run_name()
    stored = stored_model(config.case_id, run, args.output_dir, args.device)
    if stored is None:
        return None
    cfg = stored.model.cfg
    have = (cfg.n_layers, cfg.n_heads, cfg.d_model)
    want = (config.n_layers, config.n_heads, config.d_model)
    if have != want:
        raise SystemExit(f"--retry-failed: the stored {config.case_id} model (run {run}) is {have[0]} layers x "
                         f"{have[1]} heads x d_model {have[2]}, not the {want[0]} x {want[1]} x {want[2]} asked for")
    return stored


def _add_loss_args(p: argparse.ArgumentParser, strict_sampling: str, sampling_help: str) -> None:
    """Loss weights (InterpBench's -iit 1 -s 0.4 -b 1) and how the strict loss samples nodes."""
    p.add_argument("-iit", "--iit-weight", type=float, default=1.0, help="IIT loss weight (default 1)")
    p.add_argument("-s", "--strict-weight", type=float, default=0.4, help="strict (SIIT) loss weight (default 0.4)")
    p.add_argument("-b", "--behavior-weight", type=float, default=1.0, help="behaviour loss weight (default 1)")
    p.add_argument("--strict-sampling", choices=STRICT_SAMPLING, default=strict_sampling,
                   help=f"non-circuit nodes ablated per step by the strict loss (default: {sampling_help})")
    p.add_argument("--iit-sampling", choices=IIT_SAMPLING, default="uniform",
                   help="HL node the IIT loss intervenes on per step: uniform (default, InterpBench's) or weakest "
                   "(half uniform, half in proportion to each node's held-out IIA error of the last epoch)")
    p.add_argument("--iit-source-grads", action=argparse.BooleanOptionalAction, default=True,
                   help="the IIT loss also back-propagates through the source run of the intervened node, so the "
                   "node's own weights learn from it (default on; --no-iit-source-grads detaches that run, as "
                   "InterpBench does)")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """Device, threads, seed and where the model is stored."""
    add_device_arg(p)
    p.add_argument("--threads", type=non_negative_int, default=1, help="torch CPU threads (default 1: fastest for tiny models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default=str(DEFAULT_ROOT), help=f"model store root (default {DEFAULT_ROOT})")
    p.add_argument("--run", default=None, help="run name (default InterpBench's weight id, 510 for 1/0.4/1)")
