"""Score circuit files with MIB's own InterpBench AUROC code and compare with ours (`mib_auroc`).

MIB's number comes from `MIB_circuit_track.evaluation.evaluate_area_under_roc` (greedy circuits at ten
edge budgets, built by the EAP-IG library's `Graph.apply_greedy`) and `print_results.area_under_curve`.
This script loads both from local source trees (never installed, never imported by the package), writes
each circuit's truth as a MIB JSON graph, and prints MIB's AUROC next to ours for every edge-level file:

    git -C MIB-circuit-track-clone archive HEAD | tar -x -C /tmp/mib
    git -C EAP-IG-clone archive 7af394a | tar -x -C /tmp/eap      # the commit MIB pins as its submodule
    PYTHONPATH=. python scripts/mib_auroc_crosscheck.py --mib /tmp/mib --eap /tmp/eap/src \\
        --results-dir results/study/circuits --model siit -i ioi 3 76

Exit status 1 if the two AUROCs of a file without tied scores differ by more than 1e-9. Where edges
tie on |score| (ACDC's and SP's sweeps, IFR's equal q/k/v scores), the greedy circuits depend on the
order among tied edges: ours takes them by edge index, MIB's by the iteration order of a set of
name-hashed edges, which changes with PYTHONHASHSEED; the two AUROCs then differ.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from circuits_benchmark.evaluation.auroc import mib_auroc
from circuits_benchmark.evaluation.bulk import CaseCache, read_for_model
from circuits_benchmark.evaluation.results import find_circuit_files, truth_ablation_for
from circuits_benchmark.graph.circuit_io import write_circuit_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=Path, required=True, help="source tree of hannamw/MIB-circuit-track")
    parser.add_argument("--eap", type=Path, required=True, help="the `src` folder of hannamw/EAP-IG")
    parser.add_argument("--results-dir", type=Path, required=True, help="folder of circuit files")
    parser.add_argument("--model", default="siit")
    parser.add_argument("-i", "--case", nargs="*", default=None, help="only these case ids")
    parser.add_argument("--method", nargs="*", default=None, help="only these methods")
    parser.add_argument("--models-root", default=None)
    args = parser.parse_args()
    for path in (args.mib / "MIB_circuit_track", args.eap / "eap"):
        if not path.is_dir():
            raise SystemExit(f"not found: {path}")
    sys.path[:0] = [str(args.eap), str(args.mib)]
    from eap.graph import Graph  # noqa: E402  (MIB's dependency, from the given tree)
    from MIB_circuit_track.evaluation import evaluate_area_under_roc  # noqa: E402
    from print_results import area_under_curve  # noqa: E402

    files = [f for f in find_circuit_files(args.results_dir, models=[args.model], cases=args.case, methods=args.method)
             if f.level == "edge" and f.path.suffix == ".json"]
    if not files:
        raise SystemExit(f"no edge-level JSON circuit of model {args.model!r} under {args.results_dir}")
    cache = CaseCache()
    tmp = Path(tempfile.mkdtemp())
    worst = worst_untied = 0.0
    print(f"{'case':>5s} {'method':20s} {'MIB code':>9s} {'ours':>9s} {'|diff|':>8s} {'tied edges':>10s}")
    for cf in tqdm(files, desc="cross-check"):
        graph = cache.graph(args.model, cf.case_id, args.models_root, None)
        circuit = read_for_model(cf, graph)
        truth = cache.truth(args.model, cf.case_id, graph, truth_ablation_for(cf.ablation, args.model),
                            args.models_root, None)
        write_circuit_json(truth, tmp / "truth.json")
        curve = evaluate_area_under_roc(Graph.from_json(str(tmp / "truth.json")), Graph.from_json(str(cf.path)))
        theirs = float(area_under_curve(curve["FPR"], curve["TPR"]))
        ours = mib_auroc(circuit, truth, "edge").auroc
        tied = _tied_edges(circuit.edge_scores)
        worst = max(worst, abs(theirs - ours))
        if not tied:
            worst_untied = max(worst_untied, abs(theirs - ours))
        tqdm.write(f"{cf.case_id:>5s} {cf.method:20s} {theirs:9.4f} {ours:9.4f} {abs(theirs - ours):8.1e} {tied:10d}")
    print(f"{len(files)} files; largest |MIB code - ours|: {worst:.1e}; among files without tied |scores|: "
          f"{worst_untied:.1e}")
    sys.exit(1 if worst_untied > 1e-9 else 0)


def _tied_edges(scores) -> int:
    """Edges whose |score| (as float32, MIB's precision) equals another edge's: the greedy walk's order
    among them is a convention (ours: edge index; MIB's: set iteration, which follows PYTHONHASHSEED)."""
    _, inverse, counts = scores.abs().float().unique(return_inverse=True, return_counts=True)
    return int((counts[inverse] > 1).sum())


if __name__ == "__main__":
    main()
