"""What changed in the shipped set since a git revision: one row per model whose gate numbers moved.

    python scripts/manifest_diff.py 1760368          # against the manifest committed in 1760368

Reads `circuits_benchmark/siit_models/manifest_510.csv` at the revision (git show) and in the
working tree (re-written from the meta files first, so uncommitted models count). Prints a
markdown table (before -> after: IIA / strict / accuracy / all-outside-ablated, gate) and a count.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import subprocess
from pathlib import Path

from circuits_benchmark.training.manifest import write_manifest
from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN
from circuits_benchmark.utils.ordering import case_sort_key

METRICS = ("iia", "strict_accuracy", "accuracy", "circuit_accuracy")


def _rows(text: str) -> dict[str, dict[str, str]]:
    return {r["case"]: r for r in csv.DictReader(io.StringIO(text))}


def _numbers(row: dict[str, str]) -> str:
    return " / ".join(f"{100 * float(row[k]):.1f}" for k in METRICS) + (" pass" if row["passed"] == "True" else " FAIL")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("revision", help="git revision holding the earlier manifest")
    p.add_argument("--run", default=DEFAULT_RUN)
    args = p.parse_args()

    root = Path(DEFAULT_ROOT)
    relative = (root / f"manifest_{args.run}.csv").resolve().relative_to(Path.cwd().resolve())
    before = _rows(subprocess.run(["git", "show", f"{args.revision}:{relative}"], check=True,
                                  capture_output=True, text=True).stdout)
    csv_path, _ = write_manifest(root, args.run)
    after = _rows(csv_path.read_text())
    changed = [c for c in sorted(after, key=case_sort_key)
               if c not in before or any(before[c][k] != after[c][k] for k in (*METRICS, "passed"))]
    print("| case | before: IIA / strict / accuracy / outside ablated % | after | training seconds (all chunks of the stored model) | ended by |")
    print("|---|---|---|---|---|")
    for c in changed:
        old = _numbers(before[c]) if c in before else "-"
        print(f"| {c} | {old} | {_numbers(after[c])} | {float(after[c]['seconds']):.0f} | {after[c]['stop_reason']} |")
    newly = [c for c in changed if after[c]["passed"] == "True" and (c not in before or before[c]["passed"] != "True")]
    lost = [c for c in changed if after[c]["passed"] != "True" and c in before and before[c]["passed"] == "True"]
    passing = sum(r["passed"] == "True" for r in after.values())
    print(f"\n{len(changed)} models changed; {len(newly)} now pass ({', '.join(newly) or 'none'}); "
          f"{len(lost)} no longer pass; {passing} of {len(after)} pass the gate.")
    if newly:
        seconds = sorted(float(after[c]["seconds"]) for c in newly)
        print(f"Training seconds of the models that now pass (their whole stored run): median "
              f"{statistics.median(seconds):.0f}, max {seconds[-1]:.0f}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
