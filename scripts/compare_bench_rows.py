"""Compare two `bench_*.csv` row files (e.g. the committed study tables and a fresh run's) job by job.

For the (case, method, level, ablation) rows both hold: per column, how many rows differ by more than
`--tol` and by how much at most, and per method / level the largest AUROC difference. Rows only one
file holds are counted. The circuits themselves need not exist (they are not committed):

    git show HEAD:results/study/eval/bench_siit.csv > /tmp/old_siit.csv
    PYTHONPATH=. python scripts/compare_bench_rows.py /tmp/old_siit.csv results/study/eval/bench_siit.csv
"""

from __future__ import annotations

import argparse

import pandas as pd

KEY = ["case", "method", "level", "ablation"]
COLUMNS = ["auroc", "auroc_rank_edge", "auroc_mib_edge", "auroc_induced_head", "cpr", "cmd"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args()
    old = pd.read_csv(args.old, dtype={"case": str})
    new = pd.read_csv(args.new, dtype={"case": str})
    both = old.merge(new, on=KEY, suffixes=("_old", "_new"))
    only_old = len(old) - len(both)
    only_new = len(new) - len(both)
    print(f"{len(both)} rows in both; {only_old} only in {args.old}; {only_new} only in {args.new}")
    if only_new:
        extra = new.merge(old[KEY], on=KEY, how="left", indicator=True)
        print("  cases only in the new file:", ", ".join(sorted(set(extra[extra["_merge"] == "left_only"]["case"]))))
    for col in COLUMNS:
        if f"{col}_old" not in both:
            continue
        diff = (both[f"{col}_new"] - both[f"{col}_old"]).abs()
        changed = diff > args.tol
        print(f"{col:20s} differs in {int(changed.sum()):4d} rows (max {diff.max():.4f})")
    diff = (both["auroc_new"] - both["auroc_old"]).abs()
    both = both.assign(auroc_diff=diff)
    table = both.groupby(["method", "level"]).agg(rows=("auroc_diff", "size"),
                                                  changed=("auroc_diff", lambda d: int((d > args.tol).sum())),
                                                  max_diff=("auroc_diff", "max"),
                                                  mean_old=("auroc_old", "mean"), mean_new=("auroc_new", "mean"))
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
