"""Gate stored SIIT models whose meta file lacks the gate's weakest-node fields (or, for IOI models stored
before IOI was gated, the gate itself), then write the manifest.

    python scripts/regate_models.py                       # the shipped set, run 510
    python scripts/regate_models.py --root DIR --run RUN
    python scripts/regate_models.py --recompute 5 25      # after a change to what the gate counts

The gate's numbers are recomputed on the same 1,000 pairs and must equal the stored ones (an error
otherwise); only the weakest HL node and weakest outside node are added. `--recompute CASE ...`
writes the recomputed numbers of those cases instead (e.g. once the positions a metric counts changed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm.auto import tqdm

from circuits_benchmark.training.manifest import write_manifest
from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN
from circuits_benchmark.training.trainer import regate_stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(DEFAULT_ROOT))
    parser.add_argument("--run", default=DEFAULT_RUN)
    parser.add_argument("--recompute", nargs="+", default=[], metavar="CASE",
                        help="write these cases' recomputed gates even where the numbers changed")
    args = parser.parse_args()
    for case_id in tqdm(args.recompute, desc="recomputing"):
        gate = regate_stored(case_id, args.run, args.root, recompute=True)
        print(f"case {case_id}: " + ", ".join(f"{k} {gate[k]:.4f}" for k in ("iia", "strict_accuracy", "accuracy",
                                                                              "circuit_accuracy")) +
              f", passed {gate['passed']}")
    todo = []
    for meta_path in sorted(Path(args.root).glob(f"*/meta_{args.run}.json")):
        gate = json.loads(meta_path.read_text()).get("gate") or {}
        if "weakest_outside_node" not in gate and "weakest_hl_node" not in gate:
            todo.append(meta_path.parent.name)
    for case_id in tqdm(todo, desc="re-gating"):
        regate_stored(case_id, args.run, args.root)
    csv_path, md_path = write_manifest(args.root, args.run)
    print(f"re-gated {len(todo)} models; manifest: {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
