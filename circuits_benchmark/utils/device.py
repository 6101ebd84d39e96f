"""Device selection: `--device cuda|cpu`, defaulting to CUDA when it is available."""

from __future__ import annotations

from typing import Optional

import torch


def resolve_device(name: Optional[str] = None) -> torch.device:
    """The torch device for `name`; None picks CUDA if available, else CPU.

    Asking for CUDA on a machine without it is an error, not a silent fallback.
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use 'cuda' or 'cpu'")
    return device
