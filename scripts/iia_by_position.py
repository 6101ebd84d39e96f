"""IIA of one high-level node of a stored SIIT model, per sequence position.

    python scripts/iia_by_position.py -i 1 --node "shift_by(2)_2"

For each position: the share of gate pairs (same seed as the quality gate) where the intervened LL
output matches the intervened HL output, and that share among the pairs where the intervention
changes the HL output. Errors confined to a few positions point at the data (e.g. boundary
positions); errors spread everywhere, also where nothing changes, point at the model's capacity.
"""

from __future__ import annotations

import argparse

import torch

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case
from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN, load_ll_model
from circuits_benchmark.training.trainer import GATE_PAIRS, GATE_SEED, TrainConfig, build_pair, make_data


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--case", required=True)
    p.add_argument("--node", required=True, help="HL node label (see the model's meta file, hl_nodes)")
    p.add_argument("--run", default=DEFAULT_RUN)
    p.add_argument("--models-root", default=str(DEFAULT_ROOT))
    p.add_argument("-n", type=int, default=GATE_PAIRS)
    args = p.parse_args()

    torch.set_num_threads(1)
    stored = load_ll_model(args.case, args.run, args.models_root, device="cpu")
    compiled = compile_case(get_case(args.case), device="cpu")
    atol = float((stored.meta.get("training_args") or {}).get("atol", 0.05))
    pair = build_pair(compiled, TrainConfig(atol=atol), torch.device("cpu"), stored.model)
    base, source = make_data(compiled, args.n, GATE_SEED)
    node = pair.corr.node(args.node)
    with torch.no_grad():
        hl = pair.hl_intervened(base, source, node)
        ll = pair.ll_intervened(base, source, node.components)
        hl_base = pair.hl_output(base)
    compared = pair.defined(hl, pair.positions(base))
    correct, changed = pair.matches(ll, hl), ~pair.matches(hl, hl_base)
    print(f"case {args.case}, node {args.node} at {[c.name for c in node.components]}, {args.n} pairs")
    print("| position | pairs | IIA | share changed | IIA where changed |")
    print("|---:|---:|---:|---:|---:|")
    for pos in range(base.shape[1]):
        rows = compared[:, pos]
        if not rows.any():
            continue
        moved = rows & changed[:, pos]
        where_changed = f"{correct[:, pos][moved].float().mean():.3f}" if moved.any() else "-"
        print(f"| {pos} | {int(rows.sum())} | {correct[:, pos][rows].float().mean():.3f} | "
              f"{changed[:, pos][rows].float().mean():.3f} | {where_changed} |")
    print(f"overall IIA of the node: {correct[compared].float().mean():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
