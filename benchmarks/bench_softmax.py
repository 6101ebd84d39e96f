"""Softmax and log-softmax on CPU: torch's kernels vs `utils.softmax` (rows padded with -inf to 16).

    python benchmarks/bench_softmax.py

Times forward + backward, one thread, on the shapes of our models' attention scores ([batch,
heads, query, key]; the discovery passes run 5 to 64 copies of a 32-example batch) and outputs
([circuits, batch, pos, vocab]), and prints the largest difference between the two. From 16
values per row on, `utils.softmax` is torch's own kernel.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits_benchmark.utils.softmax import log_softmax, softmax  # noqa: E402


def _ms(fn, n: int = 50) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'function':>11s} {'shape':>20s} {'torch ms':>9s} {'ours ms':>8s} {'ratio':>6s} {'max diff':>9s}")
    for name, ours, theirs, shapes in [
        ("softmax", softmax, F.softmax, [(160, 4, 5, 5), (160, 4, 10, 10), (256, 4, 12, 12), (256, 4, 16, 16),
                                         (256, 4, 32, 32)]),
        ("log_softmax", log_softmax, F.log_softmax, [(5, 32, 10, 4), (64, 32, 10, 8), (5, 32, 15, 32)]),
    ]:
        for shape in shapes:
            x = torch.randn(*shape, requires_grad=True)
            grad = torch.randn(*shape)
            t_torch = _ms(lambda: theirs(x, dim=-1).backward(grad))
            t_ours = _ms(lambda: ours(x, -1).backward(grad))
            diff = (theirs(x, dim=-1) - ours(x, -1)).abs().max().item()
            print(f"{name:>11s} {str(shape):>20s} {t_torch:9.3f} {t_ours:8.3f} {t_torch / t_ours:6.1f} {diff:9.1e}")


if __name__ == "__main__":
    main()
