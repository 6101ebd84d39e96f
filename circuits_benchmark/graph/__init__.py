"""Computational graph, fast edge patching, circuits and circuit files.

Typical use::

    from circuits_benchmark.graph import ComputationalGraph, prepare_model, patched_forward, PatchSource
    model = prepare_model(model)
    graph = ComputationalGraph.from_model(model)
    logits = patched_forward(model, graph, clean, circuit.to_edge_mask(), PatchSource.corrupted(corrupt))
"""

from .circuit import Circuit, nodes_from_edges, prune_edges, rank_edges
from .circuit_io import (
    CircuitFileError,
    CircuitModelMismatchError,
    circuit_from_dict,
    circuit_to_dict,
    non_finite_entries,
    read_circuit,
    read_circuit_json,
    read_circuit_pt,
    write_circuit,
    write_circuit_json,
    write_circuit_pt,
)
from .graph import (
    QKV,
    ComputationalGraph,
    DownstreamInput,
    Edge,
    GraphConfig,
    Node,
    NodeKind,
    check_model_prepared,
    edge_name,
    prepare_model,
)
from .node_patching import patched_forward_nodes
from .patching import (
    PatchSource,
    collect_node_outputs,
    dense_patch_weights,
    evaluate_edge_masks,
    mean_node_outputs,
    node_mask_to_edge_mask,
    nodes_removed_mask,
    patched_forward,
    resolve_source,
    single_edge_ablation_masks,
)
from .visualize import draw_circuit, node_positions

__all__ = [
    "QKV", "ComputationalGraph", "DownstreamInput", "Edge", "GraphConfig", "Node", "NodeKind",
    "check_model_prepared", "edge_name", "prepare_model",
    "PatchSource", "collect_node_outputs", "dense_patch_weights", "evaluate_edge_masks",
    "mean_node_outputs", "node_mask_to_edge_mask", "nodes_removed_mask", "patched_forward", "patched_forward_nodes",
    "resolve_source", "single_edge_ablation_masks",
    "Circuit", "nodes_from_edges", "prune_edges", "rank_edges",
    "CircuitFileError", "CircuitModelMismatchError", "circuit_from_dict", "circuit_to_dict", "non_finite_entries",
    "read_circuit", "read_circuit_json",
    "read_circuit_pt", "write_circuit", "write_circuit_json", "write_circuit_pt",
    "draw_circuit", "node_positions",
]
