"""Argument types shared by every subcommand, so bad values fail at parse time with a clear message."""

from __future__ import annotations

import argparse
import re

DEVICE_HELP = "cpu, cuda or cuda:N (mps where torch supports it; default: cuda if available)"
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps|auto)$")


def _int_at_least(text: str, minimum: int, kind: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {kind} ({minimum} or more), got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, example counts, steps, epochs, workers)."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _int_at_least(text, 0, "a non-negative integer")


def mps_supported() -> bool:
    """Whether this torch build knows Apple's `mps` backend (availability is checked when it is used)."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_built())


def device_name(text: str) -> str:
    """`cpu`, `cuda`, `cuda:N` (and `mps` when torch is built with it), or `auto`.

    Whether the device exists on this machine is checked later (`resolve_device`), with its own message.
    """
    name = text.strip().lower()
    if not _DEVICE.match(name) or (name == "mps" and not mps_supported()):
        allowed = "cpu, cuda, cuda:N" + (" or mps" if mps_supported() else "")
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use {allowed}")
    return name


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=device_name, default=None, help=DEVICE_HELP)
