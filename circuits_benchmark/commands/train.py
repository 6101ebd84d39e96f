"""`main.py train iit -i CASE`: SIIT / IIT / behaviour training of an LL model; `train ioi`: the simplified IOI model."""

from __future__ import annotations

import argparse

from circuits_benchmark.training.store import DEFAULT_ROOT

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train models with SIIT / IIT / behaviour losses")
    sub = p.add_subparsers(dest="train_command", required=True)
    _add_iit_parser(sub)
    _add_ioi_parser(sub)


def _add_iit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "iit",
        help="train an LL model on a Tracr case (SIIT by default)",
        description="Train a low-level HookedTransformer so that its heads/MLPs at the Tracr positions "
        "implement the case's RASP nodes (IIT), nodes outside the circuit have no effect (strict / SIIT), "
        "and its outputs equal the Tracr model's (behaviour).",
    )
    p.add_argument("-i", "--case", required=True, help="case id(s), comma separated (see `main.py cases`)")
    p.add_argument("--model-pair", choices=["strict", "iit", "behavior"], default="strict",
                   help="strict = SIIT (IIT + strict + behaviour), iit = no strict loss, behavior = behaviour only")
    _add_loss_args(p, strict_sampling="one", sampling_help="one at random")
    p.add_argument("--single-loss", action="store_true", help="one optimiser step on the summed losses")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--n-train", type=int, default=8000, help="training (base, source) pairs")
    p.add_argument("--n-test", type=int, default=1000, help="held-out pairs for the per-epoch metrics")
    p.add_argument("--clip-grad-norm", type=float, default=1.0, help="0 disables clipping")
    p.add_argument("--d-model", type=int, default=None, help="LL residual width (default 32)")
    p.add_argument("--d-head", type=int, default=None, help="default d_model // n_heads")
    p.add_argument("--d-mlp", type=int, default=None, help="default 4 * d_model")
    p.add_argument("--n-heads", type=int, default=None, help="default: the Tracr model's")
    p.add_argument("--act-fn", default="gelu")
    p.add_argument("--atol", type=float, default=0.05, help="tolerance of numerical outputs")
    _add_run_args(p)
    p.add_argument("--early-stop", action=argparse.BooleanOptionalAction, default=True,
                   help="stop when IIA, strict accuracy and accuracy reach 100%% (default on)")
    p.add_argument("--max-minutes", type=float, default=None, help="time limit per case")
    p.add_argument("--wandb", action="store_true", help="log to wandb in offline mode (never online)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_iit)


def run_iit(args: argparse.Namespace) -> int:
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.training import TrainConfig, save_result, train

    config = TrainConfig(
        model_pair=args.model_pair, iit_weight=args.iit_weight, strict_weight=args.strict_weight,
        behavior_weight=args.behavior_weight, strict_sampling=args.strict_sampling, single_loss=args.single_loss,
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, n_train=args.n_train, n_test=args.n_test,
        clip_grad_norm=args.clip_grad_norm or None, d_model=args.d_model, d_head=args.d_head, d_mlp=args.d_mlp,
        n_heads=args.n_heads, act_fn=args.act_fn, atol=args.atol, seed=args.seed, early_stop=args.early_stop,
        max_seconds=args.max_minutes * 60 if args.max_minutes else None, device=args.device,
        cpu_threads=args.threads, wandb=args.wandb,
    )
    cases = [get_case(c.strip()) for c in args.case.split(",") if c.strip()]
    for case in cases:
        result = train(case, config, progress=not args.no_progress, wandb_dir=args.output_dir if args.wandb else None)
        folder = save_result(result, args.output_dir, args.run)
        m = result.final_metrics
        print(
            f"case {case.case_id} [{config.model_pair}, run {args.run or config.run_name()}]: "
            f"{result.epochs_run} epochs in {result.seconds:.1f}s"
            f"{' (early stop)' if result.stopped_early else ''}; IIA {m['iia']:.2%}, "
            f"strict accuracy {m['strict_accuracy']:.2%}, accuracy {m['accuracy']:.2%}; saved to {folder}"
        )
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
    p.add_argument("--heads-per-node", type=int, default=2, help="LL heads per HL head node (default 2)")
    _add_loss_args(p, strict_sampling="random-subset", sampling_help="a random subset")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--n-train", type=int, default=8000, help="training prompts")
    p.add_argument("--n-test", type=int, default=500, help="held-out prompts for the per-epoch metrics")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layers", type=int, default=6)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--no-layernorm", action="store_true", help="no LayerNorm (default: pre-LN)")
    _add_run_args(p)
    p.add_argument("--early-stop", action=argparse.BooleanOptionalAction, default=True,
                   help="stop when IIA, strict accuracy and accuracy reach 99%% (default on)")
    p.add_argument("--max-minutes", type=float, default=None, help="time limit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_ioi)


def run_ioi(args: argparse.Namespace) -> int:
    from circuits_benchmark.ioi import IOITrainConfig, save_ioi_result, train_ioi

    config = IOITrainConfig(
        next_token=args.next_token, include_mlp=args.include_mlp, heads_per_node=args.heads_per_node,
        iit_weight=args.iit_weight, strict_weight=args.strict_weight, behavior_weight=args.behavior_weight,
        strict_sampling=args.strict_sampling, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        n_train=args.n_train, n_test=args.n_test, n_layers=args.n_layers, n_heads=args.n_heads,
        d_model=args.d_model, normalization_type=None if args.no_layernorm else "LN", seed=args.seed,
        early_stop=args.early_stop, max_seconds=args.max_minutes * 60 if args.max_minutes else None,
        device=args.device, cpu_threads=args.threads,
    )
    result = train_ioi(config, progress=not args.no_progress)
    folder = save_ioi_result(result, args.output_dir, args.run)
    m = result.final_metrics
    print(
        f"{config.case_id} [run {args.run or config.run_name()}]: {result.epochs_run} epochs in {result.seconds:.1f}s"
        f"{' (early stop)' if result.stopped_early else ''}; IIA {m['iia']:.2%}, strict accuracy "
        f"{m['strict_accuracy']:.2%}, accuracy {m['accuracy']:.2%}, circuit accuracy {m['circuit_accuracy']:.2%}; "
        f"saved to {folder}"
    )
    return 0


def _add_loss_args(p: argparse.ArgumentParser, strict_sampling: str, sampling_help: str) -> None:
    """Loss weights (InterpBench's -iit 1 -s 0.4 -b 1) and how the strict loss samples nodes."""
    p.add_argument("-iit", "--iit-weight", type=float, default=1.0, help="IIT loss weight (default 1)")
    p.add_argument("-s", "--strict-weight", type=float, default=0.4, help="strict (SIIT) loss weight (default 0.4)")
    p.add_argument("-b", "--behavior-weight", type=float, default=1.0, help="behaviour loss weight (default 1)")
    p.add_argument("--strict-sampling", choices=["one", "all", "random-subset"], default=strict_sampling,
                   help=f"non-circuit nodes ablated per step by the strict loss (default: {sampling_help})")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """Device, threads, seed and where the model is stored."""
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for tiny models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default=str(DEFAULT_ROOT), help=f"model store root (default {DEFAULT_ROOT})")
    p.add_argument("--run", default=None, help="run name (default InterpBench's weight id, 510 for 1/0.4/1)")
