"""Run every discovery method on every registered case (small settings) and report what fails.

    python benchmarks/run_all_cases.py --workers 2 [--cases 1,2,3] [--methods acdc,eap] [--out /tmp/all]

Each (case, method) is a job of the benchmark runner (`circuits_benchmark.bench`): failures are
collected, never fatal. Settings are reduced (few examples, epochs, thresholds) because the point
is that every method runs on every case; `main.py bench` measures quality at full settings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits_benchmark.bench.executors import run_jobs  # noqa: E402
from circuits_benchmark.bench.jobs import DiscoveryJob  # noqa: E402
from circuits_benchmark.cases import case_ids, get_case  # noqa: E402
from circuits_benchmark.cases.compiled import compile_case  # noqa: E402
from circuits_benchmark.methods import method_names  # noqa: E402

SMALL = {"epochs": 20, "thresholds": [1e-4, 1e-2], "lambdas": [0.1, 10.0], "ig_steps": 3, "batch_size": 64}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="all")
    p.add_argument("--methods", default="all")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--n-examples", type=int, default=8)
    p.add_argument("--out", default=None, help="circuit files go here (default: a temporary folder)")
    p.add_argument("--json", default=None, help="write the per-job outcomes here")
    args = p.parse_args()
    cases = case_ids() if args.cases == "all" else args.cases.split(",")
    methods = method_names() if args.methods == "all" else args.methods.split(",")
    out = Path(args.out or tempfile.mkdtemp(prefix="all_cases_"))

    start = time.perf_counter()
    for case_id in cases:  # compile once, before the workers read the cache
        compile_case(get_case(case_id))
    compile_s = time.perf_counter() - start
    jobs = [DiscoveryJob(c, m, str(out / f"case_{c}" / f"{m}.json"), n_examples=args.n_examples,
                         method_options=SMALL) for c in cases for m in methods]
    def report(outcome) -> None:  # failures show up as they happen, not only at the end
        if not outcome.ok:
            print(f"FAILED {outcome.label}: {outcome.error.splitlines()[0]}", flush=True)

    outcomes = run_jobs(jobs, args.workers, desc="every method x every case", on_done=report)
    failed = [o for o in outcomes if not o.ok]
    print(f"compiled {len(cases)} cases in {compile_s:.0f}s; ran {len(outcomes)} jobs in "
          f"{time.perf_counter() - start - compile_s:.0f}s; {len(failed)} failed")
    slowest = sorted(outcomes, key=lambda o: -o.seconds)[:10]
    for o in slowest:
        print(f"  {o.seconds:7.1f}s  {o.label}")
    if args.json:
        from circuits_benchmark.utils.atomic import finite_or_none, write_json

        write_json(args.json, finite_or_none([o.__dict__ for o in outcomes]), indent=1, default=str)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
