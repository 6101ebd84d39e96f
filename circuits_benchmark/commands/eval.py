"""`main.py eval ...`: evaluation of trained models (`iit`) and of discovered circuits; InterpBench's
evaluation names (`ioi`, `gt_node_realism`, `node_realism`, `iit_acdc`, `ioi_acdc`) map onto them."""

from __future__ import annotations

import argparse

from circuits_benchmark.commands import eval_circuits, eval_iit, eval_upstream


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate trained models and discovered circuits")
    sub = p.add_subparsers(dest="eval_command", required=True)
    eval_iit.add_subparser(sub)
    eval_circuits.add_parsers(sub)
    eval_upstream.add_parsers(sub)
