"""`main.py cases`: the table of registered benchmark cases."""

from __future__ import annotations

import argparse

from circuits_benchmark.cases import all_cases


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("cases", aliases=["list-cases"], help="list the registered benchmark cases")
    p.add_argument("--ids-only", action="store_true", help="print only the case ids, one per line")
    p.set_defaults(func=run)


def _vocab_text(vocab: frozenset, limit: int = 30) -> str:
    text = "{" + ", ".join(map(repr, sorted(vocab, key=repr))) + "}"
    return text if len(text) <= limit else text[: limit - 4] + "...}"


def run(args: argparse.Namespace) -> int:
    cases = all_cases()
    if args.ids_only:
        print("\n".join(c.case_id for c in cases))
        return 0
    rows = [
        (c.case_id, c.output_kind, str(c.max_seq_len), "yes" if c.causal else "no", _vocab_text(c.vocab), c.description)
        for c in cases
    ]
    header = ("id", "output", "max_len", "causal", "vocab", "description")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header) - 1)]
    for row in [header] + rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths)]
        print("  ".join(cells + [row[-1]]))
    print(f"\n{len(cases)} cases")
    return 0
