"""High-level (RASP) nodes, their low-level components, and the nodes outside the circuit.

An HL node is a RASP label that Tracr placed in heads and/or MLPs (the embeddings `tokens` and
`indices` are not intervened on). Each HL node corresponds to the LL components at the same
(layer, head) / (layer, mlp) positions (InterpBench's default correspondence), unless the LL
alignment places it elsewhere (`training.ll_model.ll_alignment`, InterpBench's overrides). Every
other head or MLP of the LL model is outside the circuit: the strict (SIIT) loss resample-ablates those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from circuits_benchmark.tracr_compat.alignment import Component, TracrAlignment

INTERVENABLE_KINDS = ("head", "mlp")


@dataclass(frozen=True)
class HLNode:
    """A RASP node, the LL components computing it, and its HL components (default: the same positions)."""

    label: str
    components: tuple[Component, ...]
    hl_components: tuple[Component, ...] = ()

    @property
    def hl_site(self) -> tuple[Component, ...]:
        """The components intervened on in the HL model."""
        return self.hl_components or self.components


@dataclass(frozen=True)
class Correspondence:
    """HL nodes, each with its LL components, for an LL model of `n_layers` x `n_heads`."""

    hl_nodes: tuple[HLNode, ...]
    n_layers: int
    n_heads: int

    @classmethod
    def from_alignment(
        cls, alignment: TracrAlignment, n_layers: int, n_heads: int, ll_alignment: Optional[TracrAlignment] = None
    ) -> "Correspondence":
        """HL nodes of `alignment` (the Tracr model), placed in the LL model as `ll_alignment` says (default: same)."""
        ll_alignment = ll_alignment or alignment
        nodes = []
        for label, comps in alignment.components.items():
            inner = tuple(c for c in comps if c.kind in INTERVENABLE_KINDS)
            ll_inner = tuple(c for c in ll_alignment.components[label] if c.kind in INTERVENABLE_KINDS)
            if inner:
                nodes.append(HLNode(label, ll_inner, inner if inner != ll_inner else ()))
        for node in nodes:
            for c in node.components:
                if c.layer >= n_layers or (c.kind == "head" and c.head >= n_heads):
                    raise ValueError(f"HL node {node.label!r} sits at {c.name}, outside an LL model of "
                                     f"{n_layers} layers x {n_heads} heads")
        return cls(tuple(nodes), n_layers, n_heads)

    def node(self, label: str) -> HLNode:
        for n in self.hl_nodes:
            if n.label == label:
                return n
        raise KeyError(f"no HL node {label!r}; nodes: {[n.label for n in self.hl_nodes]}")

    @property
    def labels(self) -> list[str]:
        return [n.label for n in self.hl_nodes]

    @property
    def circuit_components(self) -> list[Component]:
        """LL components aligned to some HL node."""
        return sorted({c for n in self.hl_nodes for c in n.components})

    @property
    def all_components(self) -> list[Component]:
        """Every head and MLP of the LL model."""
        comps = []
        for layer in range(self.n_layers):
            comps.extend(Component("head", layer, h) for h in range(self.n_heads))
            comps.append(Component("mlp", layer))
        return comps

    @property
    def non_circuit_components(self) -> list[Component]:
        """LL heads and MLPs aligned to no HL node (resample-ablated by the strict loss)."""
        inside = set(self.circuit_components)
        return [c for c in self.all_components if c not in inside]

    def sample_hl_node(self, rng: np.random.Generator, weights: Optional[np.ndarray] = None) -> HLNode:
        """The HL node the IIT loss intervenes on this step: uniformly, or with probabilities `weights`."""
        if weights is None:
            return self.hl_nodes[int(rng.integers(len(self.hl_nodes)))]
        return self.hl_nodes[int(rng.choice(len(self.hl_nodes), p=weights))]

    def weakest_node_weights(self, iia: dict[str, float]) -> np.ndarray:
        """IIT node probabilities for `iit_sampling="weakest"` from each node's held-out IIA (`iia[label]`):
        half uniform, half in proportion to the node's error rate (uniform when no node errs), so the
        weakest nodes get most of the extra steps and no node is ever left out."""
        uniform = np.full(len(self.hl_nodes), 1.0 / len(self.hl_nodes))
        errors = np.array([max(0.0, 1.0 - iia.get(n.label, 1.0)) for n in self.hl_nodes])
        if errors.sum() <= 0:
            return uniform
        return 0.5 * uniform + 0.5 * errors / errors.sum()

    def sample_strict_groups(self, rng: np.random.Generator, sampling: str) -> list[list[Component]]:
        """The groups of non-circuit components the strict loss ablates this step, each group in its own run.

        `one`: one component at random; `all`: all of them together; `random-subset`: each with
        probability 1/2; `one+all`: two runs, one random component alone and all together.
        """
        nodes = self.non_circuit_components
        if not nodes:
            return []
        one = [nodes[int(rng.integers(len(nodes)))]]
        if sampling == "one":
            return [one]
        if sampling == "all":
            return [list(nodes)]
        if sampling == "one+all":
            return [one, list(nodes)]
        keep = rng.random(len(nodes)) < 0.5
        return [[n for n, k in zip(nodes, keep) if k]]


def group_by_hook(
    components: Iterable[Component], site: Optional[Callable[[Component], str]] = None
) -> dict[str, list[int] | None]:
    """hook name -> head indices to patch (None: the whole activation, for MLPs).

    `site` picks the hook patched for a component (default: its output hook, `Component.hook_name`).
    """
    groups: dict[str, list[int] | None] = {}
    for c in components:
        if c.kind not in ("head", "mlp"):
            raise ValueError(f"cannot intervene on component {c.name} (only heads and MLPs)")
        name = site(c) if site else c.hook_name
        if c.kind == "head":
            heads = groups.setdefault(name, [])
            assert heads is not None
            if c.head not in heads:
                heads.append(c.head)
        else:
            groups[name] = None
    return groups


def component_names(components: Sequence[Component]) -> list[str]:
    return [c.name for c in components]
