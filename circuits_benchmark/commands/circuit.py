"""`main.py circuit -i CASE`: draw a case's true circuit and write it as an MIB circuit file."""

from __future__ import annotations

import argparse
from pathlib import Path

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case
from circuits_benchmark.graph import draw_circuit, write_circuit


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("circuit", help="draw a case's true circuit (PNG/SVG) and save it as MIB JSON/.pt")
    p.add_argument("-i", "--case", required=True, help="case id (see `main.py cases`)")
    p.add_argument("--draw", type=Path, default=None, help="picture path (.png, .svg, .pdf); default results/circuits/case_{id}.png")
    p.add_argument("--save", type=Path, default=None, help="circuit file (.json in MIB format, or .pt)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    compiled = compile_case(get_case(args.case))
    circuit = compiled.true_circuit()
    picture = args.draw or Path("results") / "circuits" / f"case_{args.case}.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    draw_circuit(circuit, picture, title=f"case {args.case}: true circuit ({circuit.n_edges} edges)")
    print(f"drew the true circuit of case {args.case} ({circuit.n_edges} edges, {circuit.n_nodes} nodes) to {picture}")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        write_circuit(circuit, args.save)
        print(f"wrote {args.save}")
    return 0
