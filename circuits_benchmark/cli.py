"""Command line interface: `python main.py {cases,compile,circuit,train,run,eval,bench} ...`."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from circuits_benchmark.cases import UnknownCaseError
from circuits_benchmark.commands import bench, cases, circuit, compile, eval, run, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py", description="circuits-benchmark: transformers with known circuits"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    cases.add_parser(subparsers)
    compile.add_parser(subparsers)
    circuit.add_parser(subparsers)
    train.add_parser(subparsers)
    run.add_parser(subparsers)
    eval.add_parser(subparsers)
    bench.add_parser(subparsers)
    return parser


#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130
RESUME_HINT = "interrupted; run the same command again to resume: finished results are kept"
GENERIC_HINT = "interrupted; nothing partial was written (files are replaced only once complete)"


def interrupted_message(args: argparse.Namespace) -> str:
    """One line for Ctrl-C: commands that skip finished work (bench, train iit) say how to resume."""
    resumable = args.command == "bench" or (args.command == "train" and getattr(args, "train_command", None) == "iit")
    return RESUME_HINT if resumable else GENERIC_HINT


def main(argv: Optional[Sequence[str]] = None) -> int:
    from circuits_benchmark.commands.upstream import rewrite_argv

    args = build_parser().parse_args(rewrite_argv(list(sys.argv[1:] if argv is None else argv)))
    try:
        return args.func(args)
    except (UnknownCaseError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{interrupted_message(args)}", file=sys.stderr)
        return INTERRUPTED
