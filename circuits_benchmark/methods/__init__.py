"""Circuit-discovery methods, all running on the one patching engine (`circuits_benchmark.graph`)."""

from circuits_benchmark.methods.base import (
    ABLATIONS,
    LEARNED,
    LEVELS,
    MethodConfig,
    MethodSpec,
    discovery_method,
    get_method,
    learns,
    method_names,
    run_method,
)

__all__ = [
    "ABLATIONS",
    "LEARNED",
    "LEVELS",
    "MethodConfig",
    "MethodSpec",
    "discovery_method",
    "get_method",
    "learns",
    "method_names",
    "run_method",
]
