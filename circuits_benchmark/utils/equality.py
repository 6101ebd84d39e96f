"""Comparing decoded model outputs with Tracr's or the RASP program's."""

from __future__ import annotations

import math
from typing import Any, Sequence


def outputs_match(ours: Sequence[Any], theirs: Sequence[Any], categorical: bool, atol: float = 1e-4) -> bool:
    """Same token at every position (categorical) or within `atol` (numerical)."""
    if len(ours) != len(theirs):
        return False
    if categorical:
        return all(a == b for a, b in zip(ours, theirs))
    return all(math.isclose(float(a), float(b), abs_tol=atol) for a, b in zip(ours, theirs))
