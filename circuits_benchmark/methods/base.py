"""The contract every circuit-discovery method follows, and the method registry.

A method takes a `PatchingTask` (model, clean/corrupted batches, metric), the model's
`ComputationalGraph` and a `MethodConfig`, and returns a `Circuit` whose `edge_scores`
(and `node_scores` / `neuron_scores` at those levels) rank components by importance: higher means
more important. Sweep-based methods (ACDC thresholds, SP lambdas) turn the sweep into scores, so
that thresholding the scores reproduces each circuit of the sweep. All patching goes through
`circuits_benchmark.graph` (the one engine); no method writes its own hooks for patching.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Optional

from circuits_benchmark.graph import Circuit, ComputationalGraph
from circuits_benchmark.tasks import PatchingTask

LEVELS = ("edge", "node", "neuron")
ABLATIONS = ("patching", "mean", "zero", "optimal")
LEARNED = ("sp", "ugs", "oa")
"""Methods that learn masks or values: the ones `MethodConfig.epochs` and `lr` apply to (and any method
under optimal ablation, which learns its constants)."""


def learns(method: str, ablation: str) -> bool:
    """Whether `method` under `ablation` learns anything (so `epochs` and `lr` apply to it)."""
    return method in LEARNED or ablation == "optimal"


@dataclass
class MethodConfig:
    """Settings shared by the methods; each method reads the ones it uses.

    Attributes:
        level: score edges, nodes, or neurons (per d_model dimension of a node's output).
        ablation: where removed components take their values (`optimal`: learned constants).
        metric: task metric name (default: the task's, KL for categorical, L2 for numerical).
        batch_size: circuits (masks) evaluated per forward pass.
        ig_steps: interpolation steps of EAP-IG.
        thresholds: ACDC's tau sweep (None: the method's default sweep).
        lambdas: regularisation sweep of subnetwork probing (None: its default).
        reg_lambda: UGS sparsity weight.
        epochs, lr: optimisation settings of learned-mask methods.
        seed: random seed.
        progress: show progress bars.
    """

    level: str = "edge"
    ablation: str = "patching"
    metric: Optional[str] = None
    batch_size: int = 32
    ig_steps: int = 5
    thresholds: Optional[list[float]] = None
    lambdas: Optional[list[float]] = None
    reg_lambda: float = 1.0
    epochs: int = 200
    lr: float = 0.05
    seed: int = 0
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}; choose from {', '.join(LEVELS)}")
        if self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; choose from {', '.join(ABLATIONS)}")


MethodFn = Callable[[PatchingTask, ComputationalGraph, MethodConfig], Circuit]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method. ``version`` is raised whenever the method's results change (an algorithm
    or default change, not a speed-up that keeps them): result metas record it, and ``bench`` finds
    the circuits of an older version again."""

    name: str
    fn: MethodFn
    levels: tuple[str, ...]
    ablations: tuple[str, ...]
    description: str
    version: int = 1


_METHODS: dict[str, MethodSpec] = {}
_LOADED = False


def discovery_method(
    name: str, description: str, levels: tuple[str, ...] = ("edge",), ablations: tuple[str, ...] = ("patching", "mean", "zero"),
    version: int = 1,
) -> Callable[[MethodFn], MethodFn]:
    """Register `fn` as method `name`, supporting the given levels and ablations (``version``: see `MethodSpec`)."""

    def register(fn: MethodFn) -> MethodFn:
        if name in _METHODS:
            raise ValueError(f"method {name!r} registered twice")
        _METHODS[name] = MethodSpec(name, fn, tuple(levels), tuple(ablations), description, version)
        return fn

    return register


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        import circuits_benchmark.methods as package

        for info in pkgutil.iter_modules(package.__path__):
            if info.name != "base":
                importlib.import_module(f"{package.__name__}.{info.name}")
        _LOADED = True


def method_names() -> list[str]:
    _load_all()
    return sorted(_METHODS)


def get_method(name: str) -> MethodSpec:
    _load_all()
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(method_names())}")
    return _METHODS[name]


def run_method(name: str, task: PatchingTask, config: Optional[MethodConfig] = None,
               graph: Optional[ComputationalGraph] = None) -> Circuit:
    """Run a registered method, refusing levels and ablations it does not support."""
    spec, config = get_method(name), config or MethodConfig()
    if config.level not in spec.levels:
        raise ValueError(f"method {name!r} supports levels {', '.join(spec.levels)}, not {config.level!r}")
    if config.ablation not in spec.ablations:
        raise ValueError(f"method {name!r} supports ablations {', '.join(spec.ablations)}, not {config.ablation!r}")
    return spec.fn(task, graph or task.graph(), config)
