"""Small torch helpers shared by the learned-mask methods."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def frozen_weights(model: torch.nn.Module) -> Iterator[None]:
    """Stop gradients into the model's weights while masks or ablation values are learned."""
    params = list(model.parameters())
    requires = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, r in zip(params, requires):
            p.requires_grad_(r)
