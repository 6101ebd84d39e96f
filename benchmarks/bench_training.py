"""Train SIIT models for a spread of cases, one CPU thread each; print time and the quality gate per case.

    python benchmarks/bench_training.py                                   # default cases, default recipe
    python benchmarks/bench_training.py --recipes one,one+all --workers 2  # compare strict samplings
    python benchmarks/bench_training.py --cases 3,14 --max-minutes 5 --output-dir /tmp/models

Each (case, recipe) trains with `main.py train iit`'s defaults except the
strict sampling named by the recipe, through the project's runner (`--workers` processes, one
thread each), and is gated on 1,000 fresh pairs. Models go to `--output-dir/{recipe}` (a temporary
folder by default, so nothing is skipped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits_benchmark.bench.executors import run_jobs  # noqa: E402
from circuits_benchmark.bench.jobs import TrainJob  # noqa: E402
from circuits_benchmark.training import TrainConfig  # noqa: E402
from circuits_benchmark.training.manifest import manifest_rows  # noqa: E402

# numerical 2 layers x 1 head; categorical 1 layer (shift + map); 3 layers x 2 heads; selector width;
# 8 layers x 4 heads (shuffle-Dyck); compressed residual; a sort; a words case
DEFAULT_CASES = "3,1,12,14,5,18,38,34"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=DEFAULT_CASES)
    p.add_argument("--recipes", default=TrainConfig.strict_sampling,
                   help=f"strict samplings to compare, comma separated (default {TrainConfig.strict_sampling}, the "
                        f"training default)")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--max-minutes", type=float, default=10.0, help="time limit per case")
    p.add_argument("--n-train", type=int, default=TrainConfig.n_train)
    p.add_argument("--workers", type=int, default=1, help="trainings in parallel (one thread each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default=None, help="store the models under DIR/{recipe} (default: a temp dir)")
    args = p.parse_args()

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    root = Path(args.output_dir or tempfile.mkdtemp(prefix="bench_training_"))
    jobs = []
    for recipe in recipes:
        config = TrainConfig(strict_sampling=recipe, epochs=args.epochs, n_train=args.n_train, seed=args.seed,
                             device="cpu", max_seconds=60 * args.max_minutes)
        jobs += [TrainJob(c, str(root / recipe.replace("+", "_")), None, asdict(config)) for c in cases]
    outcomes = run_jobs(jobs, args.workers, desc="train")
    failures = [o for o in outcomes if not o.ok]
    for o in failures:
        print(f"FAILED {o.label}: {o.error.splitlines()[0]}")

    print(f"\n{len(cases)} cases x recipes {recipes}, {args.workers} worker(s), one thread each; "
          f"gate on 1,000 fresh pairs (IIA / strict / accuracy >= 99%), sufficiency = accuracy with every "
          f"node outside the circuit ablated at once")
    header = (f"{'recipe':8s} {'case':>4s} {'shape':>6s} {'params':>7s} {'epochs':>6s} {'seconds':>7s}  "
              f"{'ended by':18s} {'IIA':>6s} {'strict':>6s} {'acc':>6s} {'suff':>6s}  gate")
    print(header)
    for recipe in recipes:
        rows = manifest_rows(root / recipe.replace("+", "_"), TrainConfig().run_name())
        for r in rows:
            print(f"{recipe:8s} {r['case']:>4s} {r['n_layers']}x{r['n_heads']:<4d} {r['n_params']:7d} {r['epochs']:6d} "
                  f"{r['seconds']:7.0f}  {r['stop_reason'][:18]:18s} {r['iia']:6.1%} {r['strict_accuracy']:6.1%} "
                  f"{r['accuracy']:6.1%} {r['circuit_accuracy']:6.1%}  {'pass' if r['passed'] else 'FAIL'}")
        if rows:
            seconds = [r["seconds"] for r in rows]
            print(f"{recipe:8s} median {statistics.median(seconds):.0f} s, total {sum(seconds):.0f} s; "
                  f"{sum(r['passed'] for r in rows)}/{len(rows)} pass the gate, "
                  f"{sum(r['passed'] and r['sufficient'] for r in rows)}/{len(rows)} also >= 95% sufficiency")
    print(f"models under {root}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
