"""Compare two folders of circuit files of the same models (e.g. a study run before and after an engine
change, which must not change a method's results).

Per method and level: how many circuits both folders hold, the largest score difference relative to
the circuit's largest score, how many circuits' AUROC (against the truth, as `eval auroc` scores it)
differs by more than 1e-9 and by how much at most, both mean AUROCs and both summed runtimes.

    PYTHONPATH=. python scripts/compare_circuits.py results/study/circuits /tmp/fresh/circuits --model siit \
        --models-root circuits_benchmark/siit_models
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from circuits_benchmark.evaluation import auroc_report
from circuits_benchmark.evaluation.bulk import CaseCache, read_for_model
from circuits_benchmark.evaluation.results import find_circuit_files, runtime_of, truth_ablation_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, help="results folder of the reference circuits")
    parser.add_argument("new", type=Path, help="results folder of the circuits to compare")
    parser.add_argument("--model", default="siit")
    parser.add_argument("--models-root", default=None)
    args = parser.parse_args()
    old_files = {(f.case_id, f.method, f.level, f.ablation): f for f in find_circuit_files(args.old)
                 if f.model == args.model}
    pairs = [(old_files[key], f) for f in find_circuit_files(args.new) if f.model == args.model
             for key in [(f.case_id, f.method, f.level, f.ablation)] if key in old_files]
    if not pairs:
        raise SystemExit(f"no circuit of model {args.model!r} in both {args.old} and {args.new}")
    cache = CaseCache()
    stats: dict[tuple[str, str], dict] = defaultdict(lambda: {"n": 0, "diff": 0.0, "changed": 0, "auroc": 0.0,
                                                              "old_sum": 0.0, "new_sum": 0.0,
                                                              "old_s": 0.0, "new_s": 0.0})
    worst: list[tuple[float, str]] = []
    for old_file, new_file in tqdm(pairs, desc="compare"):
        graph = cache.graph(args.model, old_file.case_id, args.models_root, None)
        old, new = read_for_model(old_file, graph), read_for_model(new_file, graph)
        a, b = old.edge_scores.double(), new.edge_scores.double()
        finite = torch.isfinite(a) & torch.isfinite(b)
        scale = float(a[finite].abs().max()) if finite.any() else 0.0
        diff = float((a - b)[finite].abs().max() / scale) if scale > 0 else 0.0
        truth = cache.truth(args.model, old_file.case_id, graph,
                            truth_ablation_for(old_file.ablation, args.model), args.models_root, None)
        head = args.model != "tracr"
        auroc_old = auroc_report(old, truth, head_level_truth=head)["auroc"]
        auroc_new = auroc_report(new, truth, head_level_truth=head)["auroc"]
        delta = abs(auroc_new - auroc_old)
        s = stats[(old_file.method, old_file.level)]
        s["old_sum"] += auroc_old
        s["new_sum"] += auroc_new
        s["n"] += 1
        s["diff"] = max(s["diff"], diff)
        s["changed"] += delta > 1e-9
        s["auroc"] = max(s["auroc"], delta)
        s["old_s"] += runtime_of(old_file.meta) or 0.0
        s["new_s"] += runtime_of(new_file.meta) or 0.0
        if delta > 1e-9:
            worst.append((delta, f"case {old_file.case_id} {old_file.method}/{old_file.level}"))
    print(f"{'method / level':26s} {'circuits':>8s} {'max rel. diff':>13s} {'AUROC changed':>13s} "
          f"{'max |AUROC diff|':>16s} {'mean AUROC old':>14s} {'new':>6s} {'old s':>8s} {'new s':>8s} {'old / new':>9s}")
    total_old = total_new = 0.0
    for (method, level), s in sorted(stats.items(), key=lambda kv: -kv[1]["old_s"]):
        total_old, total_new = total_old + s["old_s"], total_new + s["new_s"]
        ratio = s["old_s"] / s["new_s"] if s["new_s"] else float("nan")
        print(f"{method + ' / ' + level:26s} {s['n']:8d} {s['diff']:13.2e} {s['changed']:13d} {s['auroc']:16.4f} "
              f"{s['old_sum'] / s['n']:14.4f} {s['new_sum'] / s['n']:6.4f} "
              f"{s['old_s']:8.0f} {s['new_s']:8.0f} {ratio:8.2f}x")
    print(f"{'all':26s} {len(pairs):8d} {'':13s} {sum(s['changed'] for s in stats.values()):13d} {'':16s} {'':21s} "
          f"{total_old:8.0f} {total_new:8.0f} {total_old / max(total_new, 1e-9):8.2f}x")
    for delta, label in sorted(worst, reverse=True)[:10]:
        print(f"  AUROC differs by {delta:.4f}: {label}")


if __name__ == "__main__":
    main()
