"""Summaries of a committed study (EXPERIMENTS.md section 5) from the rows `main.py bench` wrote.

    python scripts/study_summary.py --eval-dir results/study/eval

Prints, from `bench_siit.json` (rows whose model passes the gate) and `bench_tracr.json`:
- per method and level, mean (median) rank AUROC on the Tracr and SIIT models of the shared cases,
  the share of cases where the SIIT model scores lower, and the mean MIB-style AUROC of each;
- the IOI model's AUROC per method;
- summed method run time per method family;
- the spread: how many models saturate every edge-level method but ifr, and the cases that separate them;
- wins - losses of every method in the paired comparisons (`bench_*_comparisons.json`), per metric;
- the realism means over cases (`bench_siit_realism.json`);
- the studied Tracr cases' SIIT model sizes: layers and high-level nodes (from the model store's meta files).
"""

from __future__ import annotations

import argparse
import json
import statistics as st
from collections import defaultdict
from collections import Counter
from pathlib import Path

from circuits_benchmark.evaluation.results import results_table
from circuits_benchmark.training.store import DEFAULT_ROOT, read_meta

FAMILIES = {"eap": "EAP family", "eap-ig-inputs": "EAP family", "eap-ig-activations": "EAP family",
            "eap-ig-masks": "EAP family"}
SATURATED = 0.98


def _variant(row: dict) -> str:
    return f"{row['method']} / {row['level']}"


def _by_variant(rows: list[dict], field: str) -> dict[str, dict[str, float]]:
    """method / level -> case -> value (`results_table`'s cells; rows of one model and ablation)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (variant, case), value in results_table(rows, field)[2].items():
        out[variant.replace("/", " / ")][case] = value
    return out


def _wins_losses(comparisons: list[dict]) -> dict[str, dict[str, tuple[int, int]]]:
    """metric -> method -> (pairs it wins, pairs it loses) among the significant comparisons."""
    out: dict[str, dict[str, list[int]]] = {}
    for c in comparisons:
        record = out.setdefault(c["metric"], {})
        a, b = (record.setdefault(c[k], [0, 0]) for k in ("method_a", "method_b"))  # every method is listed
        if c.get("winner"):
            winner, loser = (a, b) if c["winner"] == c["method_a"] else (b, a)
            winner[0] += 1
            loser[1] += 1
    return {metric: {m: (w, l) for m, (w, l) in record.items()} for metric, record in out.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval-dir", default="results/study/eval")
    p.add_argument("--models-root", default=str(DEFAULT_ROOT))
    args = p.parse_args()
    eval_dir = Path(args.eval_dir)
    siit_all = json.loads((eval_dir / "bench_siit.json").read_text())
    tracr = json.loads((eval_dir / "bench_tracr.json").read_text())
    siit = [r for r in siit_all if r.get("gate_passed") and r["case"] != "ioi"]

    s_auc, t_auc = _by_variant(siit, "auroc"), _by_variant(tracr, "auroc")
    s_mib, t_mib = _by_variant(siit, "auroc_mib_edge"), _by_variant(tracr, "auroc_mib_edge")
    print("| method / level | cases | Tracr mean (median) | SIIT mean (median) | SIIT < Tracr | MIB-style, Tracr | MIB-style, SIIT |")
    print("|---|---:|---|---|---|---|---|")
    for v in sorted(s_auc, key=lambda v: -st.mean(s_auc[v].values())):
        cases = sorted(set(s_auc[v]) & set(t_auc.get(v, {})))
        if not cases:
            continue
        s, t = [s_auc[v][c] for c in cases], [t_auc[v][c] for c in cases]
        lower = sum(a < b - 1e-9 for a, b in zip(s, t)) / len(cases)
        sm = st.mean(s_mib[v][c] for c in cases if c in s_mib[v])
        tm = st.mean(t_mib[v][c] for c in cases if c in t_mib.get(v, {}))
        print(f"| {v} | {len(cases)} | {st.mean(t):.3f} ({st.median(t):.3f}) | {st.mean(s):.3f} ({st.median(s):.3f}) "
              f"| {lower:.0%} | {tm:.3f} | {sm:.3f} |")

    ioi = [r for r in siit_all if r["case"] == "ioi"]
    if ioi:
        print("\nIOI, rank AUROC / node-induced AUROC / MIB-style AUROC:")
        for r in sorted(ioi, key=lambda r: -(r["auroc"] or 0)):
            print(f"  {_variant(r)}: {r['auroc']:.3f} / {r['auroc_induced_head']:.3f} / {r['auroc_mib_edge']:.3f}")

    print("\nsummed method time (s):")
    for name, rows in (("SIIT", siit_all), ("of which IOI", ioi), ("Tracr", tracr)):
        totals: dict[str, float] = defaultdict(float)
        for r in rows:
            totals[FAMILIES.get(r["method"], r["method"])] += r.get("runtime_s") or 0.0
        print(f"  {name}: " + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(totals.items(), key=lambda x: -x[1]))
              + f"; all {sum(totals.values()):,.0f}")

    print("\nspread (edge level, every method but ifr):")
    for name, rows in (("SIIT", [r for r in siit_all if r.get("gate_passed")]), ("Tracr", tracr)):
        edge = [r for r in rows if r["level"] == "edge" and r["method"] != "ifr" and r["auroc"] is not None]
        share = sum(r["auroc"] >= SATURATED for r in edge) / len(edge)
        per_case: dict[str, list[float]] = defaultdict(list)
        for r in edge:
            per_case[r["case"]].append(r["auroc"])
        saturated = [c for c, v in per_case.items() if min(v) >= SATURATED]
        print(f"  {name}: {share:.0%} of {len(edge)} AUROCs >= {SATURATED}; every method >= {SATURATED} on "
              f"{len(saturated)} of {len(per_case)} models")
        if name == "SIIT":
            worst = sorted(per_case.items(), key=lambda kv: min(kv[1]))[:8]
            print("  most separating: " + ", ".join(f"{c} {min(v):.2f}-{max(v):.2f}" for c, v in worst))

    for name in ("siit", "tracr"):
        path = eval_dir / f"bench_{name}_comparisons.json"
        if path.exists():
            print(f"\nwins - losses ({name}; Holm-adjusted Wilcoxon p < 0.05, direction by A12), per metric:")
            for metric, record in _wins_losses(json.loads(path.read_text())).items():
                ranked = sorted(record.items(), key=lambda kv: (kv[1][1] - kv[1][0], kv[0]))
                print(f"  {metric}: " + ", ".join(f"{m} {w}-{l}" for m, (w, l) in ranked))

    realism = eval_dir / "bench_siit_realism.json"
    if realism.exists():
        print("\nrealism (means over cases): model, cases, effect circuit nodes, effect other nodes, "
              "min accuracy with one other node ablated, truth kept with the others ablated")
        rows = json.loads(realism.read_text())
        for model in ("siit", "tracr"):
            mine = [r for r in rows if r["model"] == model]
            if not mine:
                continue

            def mean(key: str) -> str:
                values = [r[key] for r in mine if r.get(key) is not None]
                return f"{st.mean(values):.4g}" if values else "-"

            print(f"  {model}: {len(mine)}, {mean('mean_effect_circuit')}, {mean('mean_effect_outside')}, "
                  f"{mean('min_accuracy_outside')}, {mean('truth_score')}")

    metas = [read_meta(c, root=args.models_root) for c in sorted({r["case"] for r in siit})]
    layers = Counter(m["ll_shape"]["n_layers"] for m in metas)
    nodes = Counter(len(m["hl_nodes"]) for m in metas)
    print(f"\nSIIT models of the {len(metas)} Tracr cases: layers {dict(sorted(layers.items()))}, "
          f"high-level nodes {dict(sorted(nodes.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
