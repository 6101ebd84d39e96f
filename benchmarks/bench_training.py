"""Train SIIT models for case 3 and other cases on CPU; print epochs, seconds and final metrics per case.

    python benchmarks/bench_training.py                       # default cases
    python benchmarks/bench_training.py --cases 3,14 --max-minutes 5 --output-dir /tmp/models

Runs the cases one after another (one training at a time, one CPU thread each).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits_benchmark.cases import get_case  # noqa: E402
from circuits_benchmark.training import TrainConfig, save_result, train  # noqa: E402

# numerical 2 layers; numerical 2 layers / 2 heads; categorical 1 layer (attention + MLP);
# categorical 1 layer (selector width); categorical 1 layer (shift + map); categorical 3 layers / 2 heads
DEFAULT_CASES = "3,4,1,14,13,12"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=DEFAULT_CASES)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--max-minutes", type=float, default=8.0, help="time limit per case")
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--d-model", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--output-dir", default=None, help="also store the models here")
    p.add_argument("--json", default=None, help="write the table as JSON here")
    args = p.parse_args()

    rows = []
    for case_id in [c.strip() for c in args.cases.split(",") if c.strip()]:
        case = get_case(case_id)
        config = TrainConfig(
            epochs=args.epochs, n_train=args.n_train, n_test=args.n_test, batch_size=args.batch_size,
            lr=args.lr, d_model=args.d_model, seed=args.seed, device=args.device,
            max_seconds=args.max_minutes * 60,
        )
        start = time.perf_counter()
        result = train(case, config, progress=False)
        m = result.final_metrics
        cfg = result.compiled.model.cfg
        row = {
            "case": case_id, "kind": case.output_kind, "layers": cfg.n_layers, "heads": cfg.n_heads,
            "epochs": result.epochs_run, "early_stop": result.stopped_early,
            "train_s": round(result.seconds, 1), "total_s": round(time.perf_counter() - start, 1),
            "iia": m["iia"], "strict_acc": m["strict_accuracy"], "acc": m["accuracy"],
            "circuit_acc": m["circuit_accuracy"],
        }
        rows.append(row)
        if args.output_dir:
            save_result(result, args.output_dir)
        print(json.dumps(row), flush=True)

    print()
    print(f"{'case':>5} {'kind':12} {'L':>2} {'H':>2} {'epochs':>6} {'stop':>5} {'train s':>8} "
          f"{'IIA':>7} {'strict':>7} {'acc':>7} {'circuit':>7}")
    for r in rows:
        print(f"{r['case']:>5} {r['kind']:12} {r['layers']:>2} {r['heads']:>2} {r['epochs']:>6} "
              f"{'yes' if r['early_stop'] else 'no':>5} {r['train_s']:>8.1f} {r['iia']:>7.2%} "
              f"{r['strict_acc']:>7.2%} {r['acc']:>7.2%} {r['circuit_acc']:>7.2%}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    ok = all(r["iia"] >= 0.99 and r["strict_acc"] >= 0.99 for r in rows)
    print(f"\n{'all' if ok else 'NOT all'} cases reach >= 99% IIA and strict accuracy")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
