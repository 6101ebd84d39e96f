"""Tracr to TransformerLens: compile RASP, convert the weights, read off the true circuit."""

from circuits_benchmark.tracr_compat.alignment import (
    CircuitEdge,
    Component,
    TracrAlignment,
    build_alignment,
)
from circuits_benchmark.tracr_compat.compile import BOS, PAD, TracrCompilation, compile_program
from circuits_benchmark.tracr_compat.encoding import TracrEncoding
from circuits_benchmark.tracr_compat.hooked import to_hooked_transformer, tracr_encoding

__all__ = [
    "BOS",
    "PAD",
    "CircuitEdge",
    "Component",
    "TracrAlignment",
    "TracrCompilation",
    "TracrEncoding",
    "build_alignment",
    "compile_program",
    "to_hooked_transformer",
    "tracr_encoding",
]
