"""Softmax over short rows on CPU, and TransformerLens's attention switched to it.

torch's CPU softmax and log-softmax kernels take a scalar path for float32 rows shorter than 16
values, about ten times slower per value than their vectorised path (attention over the 5 to 12
positions of most Tracr cases, output vocabularies of a few tokens). Padding such rows with -inf
to 16 values takes the fast path; the padding adds nothing to the sums. Values equal torch's to a
unit in the last place (summation order). `benchmarks/bench_softmax.py` measures both.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F

SHORT_ROWS = 16
"""Rows shorter than this (float32, CPU) are padded to it."""


def _short_rows(x: torch.Tensor, dim: int, kwargs: dict) -> bool:
    return (not kwargs.get("dtype") and x.device.type == "cpu" and x.dtype == torch.float32
            and dim in (-1, x.dim() - 1) and 0 < x.shape[-1] < SHORT_ROWS)


def _padded(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (0, SHORT_ROWS - x.shape[-1]), value=float("-inf"))


def softmax(x: torch.Tensor, dim: int = -1, **kwargs) -> torch.Tensor:
    """`F.softmax`, padded to SHORT_ROWS on short float32 CPU rows (rows of only -inf give NaN, as torch's)."""
    if _short_rows(x, dim, kwargs):
        return F.softmax(_padded(x), dim=-1)[..., :x.shape[-1]]
    return F.softmax(x, dim=dim, **kwargs)


def log_softmax(x: torch.Tensor, dim: int = -1, **kwargs) -> torch.Tensor:
    """`F.log_softmax`, padded likewise."""
    if _short_rows(x, dim, kwargs):
        return F.log_softmax(_padded(x), dim=-1)[..., :x.shape[-1]]
    return F.log_softmax(x, dim=dim, **kwargs)


class _Functional:
    """`torch.nn.functional` with this module's `softmax`, for TransformerLens's attention module."""

    softmax = staticmethod(softmax)

    def __getattr__(self, name: str):
        return getattr(F, name)


_FUNCTIONAL = _Functional()


@contextmanager
def fast_attention_softmax() -> Iterator[None]:
    """TransformerLens's attention (which calls `F.softmax` from its module) uses `softmax` while
    active; restores the module on exit (nesting is fine)."""
    from transformer_lens.components import abstract_attention

    saved = abstract_attention.F
    abstract_attention.F = _FUNCTIONAL
    try:
        yield
    finally:
        abstract_attention.F = saved
