"""A canonical, label-free description of a RASP program's graph.

Two programs have the same canonical structure when they are built from the same
operations in the same arrangement: the same node types, encodings, Select
comparisons, Aggregate defaults and argument order, whatever the nodes are named.
The string pins each case (tests/cases/data/structures.json) and lets
`scripts/compare_upstream_cases.py` compare our cases with InterpBench's files.

This module imports only tracr and the standard library, so the comparison script
can load it next to another package that is also called `circuits_benchmark`.
"""

from __future__ import annotations

from typing import Any, Sequence

from tracr.rasp import rasp


def canonical_nodes(program: rasp.RASPExpr) -> list[rasp.RASPExpr]:
    """Every node of the program once, in post-order (children first, in argument order)."""
    order: list[rasp.RASPExpr] = []
    seen: set[int] = set()

    def visit(expr: rasp.RASPExpr) -> None:
        if expr.unique_id in seen:
            return
        seen.add(expr.unique_id)
        for child in expr.children:
            visit(child)
        order.append(expr)

    visit(program)
    return order


def _describe(expr: rasp.RASPExpr, index: dict[int, int]) -> str:
    kind = type(expr).__name__
    parts = [kind]
    if isinstance(expr, rasp.SOp):
        parts.append(rasp.get_encoding(expr).value)
    if expr.children:
        parts.append("(" + ",".join(f"#{index[c.unique_id]}" for c in expr.children) + ")")
    if isinstance(expr, rasp.Select):
        predicate = expr.predicate
        parts.append(f"cmp={predicate.name}" if isinstance(predicate, rasp.Comparison) else "cmp=lambda")
    if isinstance(expr, rasp.Aggregate):
        parts.append(f"default={expr.default!r}")
    if isinstance(expr, rasp.LinearSequenceMap):
        parts.append(f"factors={expr.fst_fac!r},{expr.snd_fac!r}")
    if isinstance(expr, (rasp.Full, rasp.ConstantSOp)):
        parts.append(f"value={expr.value!r}")
    return " ".join(parts)


def canonical_structure(program: rasp.RASPExpr) -> str:
    """One line per node, `#k Type encoding (#children) extras`, in canonical order."""
    nodes = canonical_nodes(program)
    index = {node.unique_id: k for k, node in enumerate(nodes)}
    return "\n".join(f"#{k} {_describe(node, index)}" for k, node in enumerate(nodes))


def node_values(program: rasp.RASPExpr, inputs: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """For each canonical node, its value on each input (selectors as nested lists of bools)."""
    table = []
    for node in canonical_nodes(program):
        row = []
        for x in inputs:
            value = rasp.evaluate(node, list(x))
            if isinstance(node, rasp.Selector):
                value = [list(map(bool, r)) for r in value]
            row.append(list(value))
        table.append(row)
    return table


def node_value_sets(program: rasp.SOp, vocab: set, max_seq_len: int) -> list[list[str]]:
    """For each canonical SOp node, Tracr's inferred value set (sorted reprs); selectors get []."""
    from tracr.compiler import basis_inference, nodes, rasp_to_graph

    extracted = rasp_to_graph.extract_rasp_graph(program)
    basis_inference.infer_bases(extracted.graph, extracted.sink, set(vocab), max_seq_len)
    out = []
    for node in canonical_nodes(program):
        data = extracted.graph.nodes[node.label]
        values = data.get(nodes.VALUE_SET)
        out.append(sorted(map(repr, values)) if values is not None and isinstance(node, rasp.SOp) else [])
    return out
