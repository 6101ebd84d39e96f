"""The ground-truth circuit of a Tracr model, read off the compiler's graph.

Every RASP operation that Tracr turns into weights lives in known components: an `Aggregate` in
one attention head (or several), a `Map`/`SequenceMap` in an MLP, a `SelectorWidth` in a head
followed by an MLP. `tokens` and `indices` live in the embeddings. Edges follow the RASP data
flow, with the role a value plays at an attention head: the selector's queries feed `q`, its keys
feed `k`, the aggregated SOp feeds `v`.

Edges are those that matter under resample ablation: Tracr heads also read the BOS token and the
constant `one` direction to attend to BOS by default, but those values are the same in every input,
so those reads are left out (Miller et al. 2024 discuss why the ground truth depends on the ablation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

from tracr.compiler import nodes
from tracr.craft import transformers as craft
from tracr.rasp import rasp

from circuits_benchmark.tracr_compat.compile import TracrCompilation

ComponentKind = Literal["embed", "pos_embed", "head", "mlp", "logits"]
QKV = Optional[Literal["q", "k", "v"]]


@dataclass(frozen=True, order=True)
class Component:
    """One low-level component of a HookedTransformer."""

    kind: ComponentKind
    layer: int = -1
    head: int = -1

    @property
    def hook_name(self) -> str:
        """The TransformerLens hook holding this component's output."""
        return {
            "embed": "hook_embed",
            "pos_embed": "hook_pos_embed",
            "head": f"blocks.{self.layer}.attn.hook_result",
            "mlp": f"blocks.{self.layer}.hook_mlp_out",
            "logits": "unembed",
        }[self.kind]

    @property
    def name(self) -> str:
        """TransformerLens-style name, with the head index for heads: `blocks.0.attn.hook_result[1]`."""
        return f"{self.hook_name}[{self.head}]" if self.kind == "head" else self.hook_name

    @property
    def mib_name(self) -> str:
        """Node name in the MIB / EAP-IG graph (`input`, `a0.h1`, `m2`, `logits`)."""
        if self.kind in ("embed", "pos_embed"):
            return "input"
        if self.kind == "head":
            return f"a{self.layer}.h{self.head}"
        if self.kind == "mlp":
            return f"m{self.layer}"
        return "logits"


@dataclass(frozen=True, order=True)
class CircuitEdge:
    parent: Component
    child: Component
    qkv: QKV = None

    @property
    def mib_name(self) -> str:
        suffix = f"<{self.qkv}>" if self.qkv else ""
        return f"{self.parent.mib_name}->{self.child.mib_name}{suffix}"


@dataclass
class TracrAlignment:
    """High-level (RASP node) to low-level (components) alignment, and the true circuit.

    Attributes:
        components: RASP label -> the components computing it, in order (for a
            SelectorWidth: its head, then its MLP, which writes the result).
        edges: the true circuit's edges between components.
        output_label: the RASP label of the program's output.
        rasp_names: RASP label -> the name given in the program.
        constant_labels: RASP nodes whose value, at every position, was the same on every
            sampled input (e.g. a length when all inputs have full length).
    """

    components: dict[str, list[Component]]
    edges: list[CircuitEdge]
    output_label: str
    rasp_names: dict[str, str] = field(default_factory=dict)
    constant_labels: frozenset[str] = frozenset()

    def writers(self, label: str) -> list[Component]:
        """The components whose output carries the value of RASP node `label`."""
        return _same_stage(self.components[label], -1)

    def readers(self, label: str) -> list[Component]:
        """The components that read the inputs of RASP node `label`."""
        return _same_stage(self.components[label], 0)

    @property
    def nodes(self) -> list[Component]:
        found = {e.parent for e in self.edges} | {e.child for e in self.edges}
        return sorted(found)

    def mib_nodes(self) -> list[str]:
        return sorted({c.mib_name for c in self.nodes})

    def mib_edges(self, ablation: str = "zero") -> list[str]:
        """The true circuit's edges as MIB names, for the ablation that defines "matters".

        Under `zero` ablation every edge of the RASP data flow matters. Under `patching`
        (resample) or per-position `mean` ablation, a value that is the same in every input
        (computed from positions alone, or constant on the case's data) is its own replacement,
        so edges leaving it carry nothing and are left out.
        """
        if ablation == "zero":
            edges = self.edges
        elif ablation in ("patching", "resample", "mean"):
            constant = self.position_only_components() | {
                c for label in self.constant_labels for c in self.components[label]
            }
            edges = [e for e in self.edges if e.parent not in constant]
        else:
            raise ValueError(f"unknown ablation {ablation!r}; use zero, patching or mean")
        return sorted({e.mib_name for e in edges})

    def moved(self, placement: dict[str, list[Component]]) -> "TracrAlignment":
        """A copy in which the RASP nodes in `placement` live in other components (same count each).

        Edges follow their endpoints; used to put an HL node at another LL head or MLP.
        """
        mapping: dict[Component, Component] = {}
        for label, new in placement.items():
            old = self.components[label]
            if len(old) != len(new):
                raise ValueError(f"RASP node {label!r} has {len(old)} components, cannot move it to {len(new)}")
            for a, b in zip(old, new):
                if mapping.get(a, b) != b:
                    raise ValueError(f"component {a.name} would move to both {mapping[a].name} and {b.name}")
                mapping[a] = b
        move = lambda c: mapping.get(c, c)  # noqa: E731
        edges = sorted({CircuitEdge(move(e.parent), move(e.child), e.qkv) for e in self.edges})
        components = {label: [move(c) for c in comps] for label, comps in self.components.items()}
        return TracrAlignment(components, edges, self.output_label, dict(self.rasp_names), self.constant_labels)

    def position_only_components(self) -> set[Component]:
        """Components whose output depends on token positions only, never on the tokens."""
        depends_on_tokens = {Component("embed")}
        changed = True
        while changed:
            changed = False
            for edge in self.edges:
                if edge.parent in depends_on_tokens and edge.child not in depends_on_tokens:
                    depends_on_tokens.add(edge.child)
                    changed = True
        return {c for comps in self.components.values() for c in comps} - depends_on_tokens


def _same_stage(comps: list[Component], index: int) -> list[Component]:
    """The components in the same layer and of the same kind as `comps[index]`."""
    ref = comps[index]
    return [c for c in comps if (c.kind, c.layer) == (ref.kind, ref.layer)]


def _block_parts(block: craft.Block, layer_no: int) -> list[tuple[int, craft.Block]]:
    if isinstance(block, craft.SeriesWithResiduals):
        return [(layer_no + i, sub) for i, sub in enumerate(block.blocks)]
    return [(layer_no, block)]


def _components_by_label(compilation: TracrCompilation) -> dict[str, list[Component]]:
    """Replay Tracr's placement of blocks into layers to find each node's heads and MLP."""
    graph = compilation.graph
    heads_used: dict[int, int] = {}
    placed: dict[str, list[Component]] = {
        rasp.tokens.label: [Component("embed")],
        rasp.indices.label: [Component("pos_embed")],
    }
    for label, layer_no in compilation.layer_allocation.items():
        block = graph.nodes[label][nodes.MODEL_BLOCK]
        comps: list[Component] = []
        for half_layer, part in _block_parts(block, layer_no):
            layer = half_layer // 2
            if isinstance(part, craft.MLP):
                comps.append(Component("mlp", layer))
            else:
                n_heads = len(list(part.as_multi().heads()))
                first = heads_used.get(layer, 0)
                heads_used[layer] = first + n_heads
                comps.extend(Component("head", layer, h) for h in range(first, first + n_heads))
        placed[label] = comps
    return placed


def _selector_sops(selector: rasp.Selector) -> list[tuple[rasp.SOp, str]]:
    """(SOp, role) pairs a selector reads: its queries as `q`, its keys as `k`."""
    if isinstance(selector, rasp.Select):
        return [(selector.queries, "q"), (selector.keys, "k")]
    found: list[tuple[rasp.SOp, str]] = []
    for child in selector.children:
        found.extend(_selector_sops(child))
    return found


def _inputs_of(expr: rasp.SOp) -> list[tuple[rasp.SOp, QKV]]:
    """The SOps an operation reads, with the attention input each one enters through."""
    if isinstance(expr, rasp.Aggregate):
        return _selector_sops(expr.selector) + [(expr.sop, "v")]
    if isinstance(expr, rasp.SelectorWidth):
        return _selector_sops(expr.selector)
    return [(child, None) for child in expr.children if isinstance(child, rasp.SOp)]


def constant_labels(compilation: TracrCompilation, inputs: Sequence[Sequence[Any]]) -> frozenset[str]:
    """RASP nodes whose value at each position is the same on all `inputs`."""
    found = set()
    for label in compilation.layer_allocation:
        expr = compilation.graph.nodes[label][nodes.EXPR]
        values = {tuple(rasp.evaluate(expr, list(x))) for x in inputs}
        if len(values) == 1:
            found.add(label)
    return frozenset(found)


def build_alignment(
    compilation: TracrCompilation, inputs: Optional[Sequence[Sequence[Any]]] = None
) -> TracrAlignment:
    """Alignment and true circuit of a compiled program.

    `inputs` (samples of the case's data) let the resample-ablation circuit leave out values
    that never change on that data; without them only position-only values are left out.
    """
    graph = compilation.graph
    names = {label: graph.nodes[label][nodes.EXPR].name for label in compilation.layer_allocation}
    constant = constant_labels(compilation, inputs) if inputs else frozenset()
    alignment = TracrAlignment(_components_by_label(compilation), [], compilation.sink[nodes.ID], names, constant)
    edges: set[CircuitEdge] = set()
    for label in compilation.layer_allocation:
        readers = alignment.readers(label)
        for sop, role in _inputs_of(graph.nodes[label][nodes.EXPR]):
            if sop.label not in alignment.components:
                raise ValueError(f"RASP node {sop.label!r} (read by {label!r}) has no component")
            for parent in alignment.writers(sop.label):
                for child in readers:
                    edges.add(CircuitEdge(parent, child, role if child.kind == "head" else None))
        # Inside a SelectorWidth block the head's output feeds the MLP that counts.
        for parent in readers:
            for child in alignment.components[label]:
                if child not in readers:
                    edges.add(CircuitEdge(parent, child, None))
    for parent in alignment.writers(alignment.output_label):
        edges.add(CircuitEdge(parent, Component("logits"), None))
    alignment.edges = sorted(edges)
    return alignment
