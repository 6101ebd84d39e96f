"""Where a training epoch's time goes, per case: training steps, their HL share, and the evaluation.

    python benchmarks/bench_train_step.py                 # cases 119,5,12,38,81
    python benchmarks/bench_train_step.py --cases 3,59 --steps 8

For each case, on one CPU thread with a fresh LL model (`main.py train iit`'s defaults): the mean time
of a training step (IIT, strict and behaviour losses with their backward passes, 256 pairs), the mean
time of the HL forward runs such a step needs (source run, patched base run, clean base run), and two
evaluations of the same 1,000 held-out pairs, as two epochs of a fit make (the second reuses the HL
targets of the first).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits_benchmark.cases import get_case  # noqa: E402
from circuits_benchmark.cases.compiled import compile_case  # noqa: E402
from circuits_benchmark.training import TrainConfig  # noqa: E402
from circuits_benchmark.training.trainer import build_pair, make_data, prepare_run  # noqa: E402
from bench_node_pass import per_step  # noqa: E402  (seconds per call after a warm-up)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="119,5,12,38,81")
    p.add_argument("--steps", type=int, default=4, help="steps timed per case (after one warm-up step)")
    args = p.parse_args()

    print(f"{'case':>4s} {'HL d_model/d_mlp':>16s} {'LL d_model':>10s} {'step ms':>8s} {'HL ms':>7s} {'HL %':>5s} "
          f"{'eval s':>7s} {'again s':>7s}")
    for case_id in [c.strip() for c in args.cases.split(",") if c.strip()]:
        config = TrainConfig(device="cpu")
        device = prepare_run(config)  # one thread, seeded
        compiled = compile_case(get_case(case_id), device=device)
        pair = build_pair(compiled, config, device)
        base, source = make_data(compiled, config.batch_size, config.seed)
        test_base, test_source = make_data(compiled, config.n_test, config.seed + 7_777)
        node = pair.corr.hl_nodes[0]

        def step() -> None:
            b = base.clone()  # a new batch object, as every step of a fit has
            for loss in (pair.iit_loss(b, source), pair.strict_loss(b, source), pair.behavior_loss(b)):
                loss.backward()

        def hl_runs() -> None:
            b = base.clone()
            pair.hl_output(b)
            pair.hl_intervened(b, source, node)

        step_s, hl_s = per_step(step, args.steps), per_step(hl_runs, args.steps)
        start = time.perf_counter()
        pair.evaluate(test_base, test_source)
        first = time.perf_counter() - start
        start = time.perf_counter()
        pair.evaluate(test_base, test_source)
        again = time.perf_counter() - start
        hl, ll = compiled.model.cfg, pair.ll_model.cfg
        print(f"{case_id:>4s} {f'{hl.d_model}/{hl.d_mlp}':>16s} {ll.d_model:>10d} {step_s * 1e3:8.0f} "
              f"{hl_s * 1e3:7.0f} {hl_s / step_s:5.0%} {first:7.1f} {again:7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
