"""Attention softmax on CPU: torch's kernel vs the exp/sum form `fast_mode` uses in training.

    python benchmarks/bench_softmax.py

Times forward + backward on attention-score shapes of our models ([batch, heads, query, key]),
one thread, and checks the two agree. `_softmax` switches to torch's kernel for rows of SHORT_ROWS
positions or more, where torch's is the faster one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits_benchmark.training.pair import _softmax  # noqa: E402


def _ms(fn, n: int = 100) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'shape':>20s} {'torch ms':>9s} {'ours ms':>10s} {'ratio':>6s} {'max diff':>9s}")
    for shape in [(256, 4, 6, 6), (256, 4, 10, 10), (1000, 4, 10, 10), (256, 4, 12, 12), (256, 4, 16, 16),
                  (256, 4, 32, 32)]:
        x = torch.randn(*shape, requires_grad=True)
        grad = torch.randn(*shape)
        t_torch = _ms(lambda: F.softmax(x, dim=-1).backward(grad))
        t_ours = _ms(lambda: _softmax(x).backward(grad))  # torch's own from SHORT_ROWS positions on
        diff = (F.softmax(x, dim=-1) - _softmax(x)).abs().max().item()
        print(f"{str(shape):>20s} {t_torch:9.2f} {t_ours:10.2f} {t_torch / t_ours:6.1f} {diff:9.1e}")


if __name__ == "__main__":
    main()
