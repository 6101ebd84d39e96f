"""Draw a circuit with matplotlib + networkx (no graphviz needed).

Nodes are laid out by layer (input at the bottom, logits at the top; heads in a row, the MLP
to the right and half a layer higher). Edge width grows with |score|; edges into q/k/v inputs
get distinct colours, other edges are blue (positive score) or red (negative score); edges with a
negative score are dashed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Union

import networkx as nx
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from circuits_benchmark.utils.atomic import atomic_write

from .circuit import Circuit
from .graph import ComputationalGraph, Node, NodeKind

QKV_COLOURS = {"q": "#7b3294", "k": "#008837", "v": "#e66101"}
POSITIVE_COLOUR = "#2c7bb6"
NEGATIVE_COLOUR = "#d7191c"
NODE_COLOURS = {NodeKind.INPUT: "#dddddd", NodeKind.ATTENTION: "#fdd49e",
                NodeKind.MLP: "#c6dbef", NodeKind.LOGITS: "#dddddd"}


def node_positions(graph: ComputationalGraph) -> dict[str, tuple[float, float]]:
    """x, y for every node: y by layer, x by head index (MLP right of the heads)."""
    n_heads = graph.cfg.n_heads
    centre = (n_heads - 1) / 2 + (0.5 if graph.cfg.has_mlp else 0.0)
    pos: dict[str, tuple[float, float]] = {}
    for node in graph.nodes:
        if node.kind is NodeKind.ATTENTION:
            pos[node.name] = (float(node.head), float(node.layer))
        elif node.kind is NodeKind.MLP:
            offset = 0.0 if graph.cfg.parallel_attn_mlp else 0.5
            pos[node.name] = (float(n_heads) + 0.5, node.layer + offset)
        else:  # input at layer -1, logits at n_layers
            pos[node.name] = (centre, float(node.layer))
    return pos


def draw_circuit(circuit: Circuit, path: Union[str, Path], show_all_nodes: bool = True,
                 title: Optional[str] = None, max_width: float = 4.0, min_width: float = 0.3,
                 dpi: int = 150) -> Path:
    """Save a drawing of the circuit's kept edges to ``path`` (PNG, SVG, PDF... by extension)."""
    graph = circuit.graph
    path = Path(path)
    pos = node_positions(graph)
    g = nx.MultiDiGraph()
    nodes: list[Node] = [n for n in graph.nodes if show_all_nodes or circuit.node_in_graph[n.index]]
    for n in nodes:
        g.add_node(n.name)
    kept = [e for e in graph.edges if circuit.edge_in_graph[e.index]]
    scores = [float(circuit.edge_scores[e.index]) for e in kept]
    finite = [abs(s) for s in scores if math.isfinite(s)]
    top = max(finite) if finite and max(finite) > 0 else 1.0

    width = max(6.0, 1.1 * (graph.cfg.n_heads + 2))
    height = max(4.0, 1.0 * (graph.cfg.n_layers + 2))
    fig = Figure(figsize=(width, height))  # no pyplot: no global backend state
    ax = fig.subplots()
    in_graph = {n.name: bool(circuit.node_in_graph[n.index]) for n in graph.nodes}
    nx.draw_networkx_nodes(
        g, pos, ax=ax, nodelist=[n.name for n in nodes], node_size=500,
        node_color=[NODE_COLOURS[n.kind] if in_graph[n.name] else "#f7f7f7" for n in nodes],
        edgecolors=["black" if in_graph[n.name] else "#cccccc" for n in nodes],
    )
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=7,
                            labels={n.name: n.name for n in nodes})
    for edge, score in zip(kept, scores):
        magnitude = abs(score) / top if math.isfinite(score) else 0.0
        if edge.qkv is not None:
            colour = QKV_COLOURS[edge.qkv]
        else:
            colour = POSITIVE_COLOUR if score >= 0 else NEGATIVE_COLOUR
        rad = {"q": -0.15, "k": 0.0, "v": 0.15}.get(edge.qkv or "", 0.08)
        nx.draw_networkx_edges(
            g, pos, ax=ax, edgelist=[(edge.parent.name, edge.child.name)],
            width=min_width + (max_width - min_width) * magnitude, edge_color=colour,
            style="dashed" if score < 0 else "solid", arrows=True, arrowsize=8, connectionstyle=f"arc3,rad={rad}", node_size=500, alpha=0.8,
        )
    handles = [Line2D([], [], color=c, label=f"<{k}>") for k, c in QKV_COLOURS.items()]
    handles += [Line2D([], [], color=POSITIVE_COLOUR, label="+ score"),
                Line2D([], [], color=NEGATIVE_COLOUR, linestyle="dashed", label="- score")]
    ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=False)
    ax.set_title(title or f"{circuit.n_edges} edges, {circuit.n_nodes} nodes", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fmt = path.suffix.lstrip(".").lower() or "png"
    atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
    return path
