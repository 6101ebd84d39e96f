"""Circuit edges as TransformerLens hook-name pairs: the format of InterpBench's `edges.pkl`.

Upstream (FlyingPumba/circuits-benchmark) writes `edges.pkl` as `circuit_to_edges_list(case.get_ll_gt_circuit())`,
a list of `(parent, child)` hook names with the head index in brackets, built by
`build_tracr_circuits(..., granularity="acdc_hooks")`. That builder emits:

* between components: a writer's output hook (`hook_embed`, `hook_pos_embed`, `blocks.l.attn.hook_result[h]`,
  `blocks.l.hook_mlp_out`) -> the reader's input hook (`blocks.l.hook_{q,k,v}_input[h]`, `blocks.l.hook_mlp_in`),
  and the program's output -> `blocks.{last layer}.hook_resid_post` (the only resid_post edge; none per layer);
* inside every head, for all three roles whether or not anything feeds them:
  `blocks.l.hook_{r}_input[h]` -> `blocks.l.attn.hook_{r}[h]` -> `blocks.l.attn.hook_result[h]`;
* inside every MLP: `blocks.l.hook_mlp_in` -> `blocks.l.hook_mlp_out`.

`to_hook_edges` emits the same kinds. `from_hook_edges` also reads older published files (which lack the
`hook_{r}` -> `hook_result` and MLP inside edges), the `sp_hooks` form (`hook_{r}_input[h]` -> `hook_result[h]`)
and `blocks.0.hook_resid_pre` as the input node (ACDC's name for it).
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

from circuits_benchmark.tracr_compat.alignment import CircuitEdge, Component

HookEdge = tuple[str, str]
ROLES = ("q", "k", "v")


def _parent_hook(c: Component) -> str:
    if c.kind in ("embed", "pos_embed", "mlp"):
        return c.hook_name
    if c.kind == "head":
        return c.name
    raise ValueError(f"{c.mib_name} cannot be an edge's parent")


def _child_hook(c: Component, qkv: Optional[str], n_layers: int) -> str:
    if c.kind == "head":
        if qkv not in ROLES:
            raise ValueError(f"an edge into head {c.mib_name} needs a q/k/v role, got {qkv!r}")
        return f"blocks.{c.layer}.hook_{qkv}_input[{c.head}]"
    if c.kind == "mlp":
        return f"blocks.{c.layer}.hook_mlp_in"
    if c.kind == "logits":
        return f"blocks.{n_layers - 1}.hook_resid_post"
    raise ValueError(f"{c.mib_name} cannot be an edge's child")


def _inside(c: Component) -> list[HookEdge]:
    """Upstream's edges inside a head (all roles) or an MLP."""
    if c.kind == "mlp":
        return [(f"blocks.{c.layer}.hook_mlp_in", f"blocks.{c.layer}.hook_mlp_out")]
    if c.kind != "head":
        return []
    l, h = c.layer, c.head
    return [edge for r in ROLES for edge in (
        (f"blocks.{l}.hook_{r}_input[{h}]", f"blocks.{l}.attn.hook_{r}[{h}]"),
        (f"blocks.{l}.attn.hook_{r}[{h}]", f"blocks.{l}.attn.hook_result[{h}]"),
    )]


def to_hook_edges(edges: Iterable[CircuitEdge], n_layers: int) -> list[HookEdge]:
    """Upstream's `edges.pkl` list for a circuit on a model with `n_layers` layers (sorted, no duplicates)."""
    found: set[HookEdge] = set()
    for e in edges:
        found.add((_parent_hook(e.parent), _child_hook(e.child, e.qkv, n_layers)))
        found.update(_inside(e.parent))
        found.update(_inside(e.child))
    return sorted(found)


_PARENTS = [
    (re.compile(r"hook_embed|hook_pos_embed|blocks\.0\.hook_resid_pre"), lambda m: "input"),
    (re.compile(r"blocks\.(\d+)\.attn\.hook_result\[(\d+)\]"), lambda m: f"a{m[1]}.h{m[2]}"),
    (re.compile(r"blocks\.(\d+)\.hook_mlp_out"), lambda m: f"m{m[1]}"),
]
_CHILDREN = [
    (re.compile(r"blocks\.(\d+)\.hook_([qkv])_input\[(\d+)\]"), lambda m: f"a{m[1]}.h{m[3]}<{m[2]}>"),
    (re.compile(r"blocks\.(\d+)\.hook_mlp_in"), lambda m: f"m{m[1]}"),
    (re.compile(r"blocks\.(\d+)\.hook_resid_post"), lambda m: "logits"),
]
_INSIDE = [
    re.compile(r"blocks\.(\d+)\.hook_([qkv])_input\[(\d+)\]->blocks\.\1\.attn\.hook_\2\[\3\]"),
    re.compile(r"blocks\.(\d+)\.attn\.hook_[qkv]\[(\d+)\]->blocks\.\1\.attn\.hook_result\[\2\]"),
    re.compile(r"blocks\.(\d+)\.hook_[qkv]_input\[(\d+)\]->blocks\.\1\.attn\.hook_result\[\2\]"),
    re.compile(r"blocks\.(\d+)\.hook_mlp_in->blocks\.\1\.hook_mlp_out"),
]


def _match(name: str, patterns: list) -> Optional[str]:
    for pattern, to_mib in patterns:
        m = pattern.fullmatch(name)
        if m:
            return to_mib(m)
    return None


def from_hook_edges(hook_edges: Iterable[HookEdge], n_layers: Optional[int] = None) -> list[str]:
    """MIB edge names (`input->a1.h2<q>`, `m1->logits`) of an `edges.pkl` list; edges inside a component are dropped.

    With `n_layers`, only the last layer's `hook_resid_post` is accepted as the logits.
    Raises ValueError naming the first entry that is not a hook-name pair this format uses.
    """
    found: set[str] = set()
    for entry in hook_edges:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
            raise ValueError(f"edge entry {entry!r} is not a (parent hook, child hook) pair")
        parent, child = entry
        if any(p.fullmatch(f"{parent}->{child}") for p in _INSIDE):
            continue
        p, c = _match(parent, _PARENTS), _match(child, _CHILDREN)
        if c == "logits" and n_layers is not None and child != f"blocks.{n_layers - 1}.hook_resid_post":
            c = None
        if p is None or c is None:
            raise ValueError(f"edge entry {entry!r} has a hook name that is not a circuit node "
                             f"({parent if p is None else child!r})")
        found.add(f"{p}->{c}")
    return sorted(found)


_MIB_NODE = re.compile(r"input|logits|a(\d+)\.h(\d+)|m(\d+)")


def _component(name: str, edge: str) -> Component:
    m = _MIB_NODE.fullmatch(name)
    if m is None:
        raise ValueError(f"MIB edge {edge!r} has an unknown node {name!r}")
    if name == "input":
        return Component("embed")  # MIB's `input` is embed + pos_embed; upstream's readers treat both alike
    if name == "logits":
        return Component("logits")
    if m[1] is not None:
        return Component("head", int(m[1]), int(m[2]))
    return Component("mlp", int(m[3]))


def parse_mib_edge(name: str) -> CircuitEdge:
    """A `CircuitEdge` from an MIB edge name (`input` becomes the token embedding)."""
    m = re.fullmatch(r"(.+)->(.+?)(?:<([qkv])>)?", name)
    if m is None:
        raise ValueError(f"{name!r} is not an MIB edge name (parent->child or parent->child<q|k|v>)")
    return CircuitEdge(_component(m[1], name), _component(m[2], name), m[3])
