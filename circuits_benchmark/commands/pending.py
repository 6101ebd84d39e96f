"""Subcommands whose implementation has not landed yet: they say so and exit non-zero."""

from __future__ import annotations

import argparse
import sys

PENDING = {
    "train": "train models with SIIT / IIT / behaviour losses",
    "run": "run a circuit-discovery method",
    "eval": "evaluate circuits and trained models",
    "bench": "run the whole benchmark",
}


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    for name, help_text in PENDING.items():
        p = subparsers.add_parser(name, help=f"{help_text} (not implemented yet)")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_not_implemented, command_name=name)


def _not_implemented(args: argparse.Namespace) -> int:
    print(f"main.py {args.command_name}: not implemented yet", file=sys.stderr)
    return 2
