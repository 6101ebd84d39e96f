"""Read and write circuits in the MIB formats (JSON and ``.pt``).

JSON layout (as written by EAP-IG's ``Graph.to_json`` and read by MIB's circuit track)::

    {"cfg":   {"n_layers": int, "n_heads": int, "parallel_attn_mlp": bool, "d_model": int},
     "nodes": {"a0.h1": {"in_graph": bool, ["score": float], ["neurons": [bool]*d_model],
                         ["neurons_scores": [float]*d_model]}, ...},
     "edges": {"a0.h1->m0": {"score": float, "in_graph": bool},
               "input->a1.h0<q>": {...}, ...}}

``.pt`` layout (EAP-IG's ``Graph.to_pt``): a dict with ``cfg``, ``src_nodes`` (upstream node
names), ``dst_nodes`` (downstream input names, e.g. ``a0.h1<q>``), ``edges_scores`` and
``edges_in_graph`` (``[n_src, n_dst]``), ``nodes_in_graph`` (``[n_src]``), and optionally
``nodes_scores`` (``[n_src]``), ``neurons_in_graph`` / ``neurons_scores`` (``[n_src, d_model]``).

Differences from EAP-IG, checked against hannamw/EAP-IG ``src/eap/graph.py`` and
hannamw/MIB-circuit-track ``graph.py``:

* EAP-IG stores scores in float32 tensors; here scores are float64, so JSON and ``.pt``
  round-trips are bit-exact. Reading EAP-IG files works (floats widen exactly).
* EAP-IG's readers look names up without checking and ignore unknown keys; here every unknown
  node / edge name, unknown or missing key, wrong type or cfg mismatch raises
  :class:`CircuitFileError` naming the offending key. Nothing is silently dropped.
* Node entries may be omitted from ``nodes`` (membership is then derived from edges), but
  every edge must be present (EAP-IG would silently leave missing edges at score 0).
* ``logits`` is written with ``in_graph: true`` (as EAP-IG does); its entry is accepted on read.
* Attention-only models (not representable in EAP-IG) add ``"has_mlp": false`` to ``cfg``.
* ``.pt``'s ``nodes_in_graph`` / ``nodes_scores`` cover upstream nodes only (as in EAP-IG):
  logits is read back as in the graph, with a NaN score.
* Scores must be finite, in both formats. A file holding NaN or infinity anywhere in its scores
  (``NaN`` / ``Infinity`` literals in JSON, non-finite tensor entries in ``.pt``) is refused with
  :class:`CircuitFileError` naming the first offending entries; writers refuse the same circuits,
  so files written here are standard JSON. In memory a NaN *node* (or neuron-row) score means
  "not scored" (e.g. ``logits``): JSON omits that ``score`` (``neurons_scores``) key, and reading
  a node without one gives NaN back; ``.pt`` stores every upstream node's score, so an unscored
  upstream node cannot be written as ``.pt``.
* A file read against a model (``model_or_graph``) must be that model's: every cfg difference is
  named, and so is any node or edge the model's graph lacks (:class:`CircuitModelMismatchError`).
* Files are written atomically (temporary file + rename): an interrupted write never leaves a
  truncated file.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any, Optional, Union

import torch

from circuits_benchmark.utils.atomic import torch_save, write_text

from .circuit import Circuit
from .graph import ComputationalGraph, GraphConfig

PathLike = Union[str, Path]

_CFG_KEYS = ("n_layers", "n_heads", "parallel_attn_mlp", "d_model")
_OPTIONAL_CFG_KEYS = ("has_mlp",)
_NODE_KEYS = ("in_graph", "score", "neurons", "neurons_scores")
_EDGE_KEYS = ("score", "in_graph")


class CircuitFileError(ValueError):
    """A circuit file is malformed or does not fit the model; the message names the bad key."""


class CircuitModelMismatchError(CircuitFileError):
    """A circuit file belongs to another model: its cfg or its node / edge names differ from the model's graph."""


_SHOWN = 5  # offending entries named in an error message


def _examples(items: list[str]) -> str:
    more = f", ... ({len(items)} in all)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _refuse_non_finite(entries: list[str], where: str = "the file", hint: str = "") -> None:
    if entries:
        raise CircuitFileError(f"{where} holds non-finite scores (NaN or infinity): {_examples(entries)}; "
                               f"circuit scores must be finite numbers{hint}")


# ---------------------------------------------------------------------------- helpers
def _graph_for(model_or_graph: Any, cfg: GraphConfig) -> ComputationalGraph:
    if model_or_graph is None:
        return ComputationalGraph.from_model(cfg)
    graph = model_or_graph if isinstance(model_or_graph, ComputationalGraph) else ComputationalGraph.from_model(model_or_graph)
    mine = graph.cfg
    differences = [f"{key} {getattr(cfg, key)!r} in the file vs {getattr(mine, key)!r} in the model"
                   for key in _CFG_KEYS + _OPTIONAL_CFG_KEYS if getattr(mine, key) != getattr(cfg, key)]
    if differences:
        raise CircuitModelMismatchError(f"the file's cfg does not match the model: {'; '.join(differences)}")
    return graph


def _parse_cfg(raw: Any) -> GraphConfig:
    if not isinstance(raw, dict):
        raise CircuitFileError(f"'cfg' must be an object, got {type(raw).__name__}")
    for key in raw:
        if key not in _CFG_KEYS + _OPTIONAL_CFG_KEYS:
            raise CircuitFileError(f"unknown key cfg[{key!r}]")
    for key in _CFG_KEYS:
        if key not in raw:
            raise CircuitFileError(f"missing key cfg[{key!r}]")
    for key in ("n_layers", "n_heads", "d_model"):
        if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] <= 0:
            raise CircuitFileError(f"cfg[{key!r}] must be a positive integer, got {raw[key]!r}")
    for key in ("parallel_attn_mlp", "has_mlp"):
        if key in raw and not isinstance(raw[key], bool):
            raise CircuitFileError(f"cfg[{key!r}] must be a boolean, got {raw[key]!r}")
    return GraphConfig(n_layers=raw["n_layers"], n_heads=raw["n_heads"], d_model=raw["d_model"],
                       parallel_attn_mlp=raw["parallel_attn_mlp"], has_mlp=raw.get("has_mlp", True))


def _cfg_dict(graph: ComputationalGraph) -> dict[str, Any]:
    d = graph.cfg.to_mib_dict()
    if not graph.cfg.has_mlp:
        d["has_mlp"] = False
    return d


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CircuitFileError(f"{where} must be a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range
        return math.inf if value > 0 else -math.inf


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CircuitFileError(f"{where} must be true or false, got {value!r}")
    return value


def _float_list(value: Any, n: int, where: str) -> list[float]:
    if not isinstance(value, list) or len(value) != n:
        raise CircuitFileError(f"{where} must be a list of {n} numbers")
    return [_number(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _bool_list(value: Any, n: int, where: str) -> list[bool]:
    if not isinstance(value, list) or len(value) != n:
        raise CircuitFileError(f"{where} must be a list of {n} booleans")
    return [_boolean(v, f"{where}[{i}]") for i, v in enumerate(value)]


# ---------------------------------------------------------------------------- JSON
def _check_entry(entry: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    """An edge or node entry must be an object with the required keys and no unknown ones."""
    if not isinstance(entry, dict):
        raise CircuitFileError(f"{where} must be an object with {' and '.join(map(repr, required))}")
    for key in entry:
        if key not in allowed:
            raise CircuitFileError(f"unknown key {key!r} in {where}")
    for key in required:
        if key not in entry:
            raise CircuitFileError(f"missing {key!r} in {where}")


def non_finite_entries(circuit: Circuit, unscored_nodes: bool = True) -> list[str]:
    """Names of the circuit's non-finite scores, as circuit files spell them (empty: writable).

    Edge scores must be finite. With ``unscored_nodes`` (JSON), a NaN node score or an all-NaN
    neuron row means "not scored" and is allowed (the key is left out); infinities never are.
    Without it (``.pt``, which stores every upstream node), logits' node score is the only NaN allowed.
    """
    graph = circuit.graph
    bad = [f"edges[{graph.edge_name(e)!r}]['score'] = {float(circuit.edge_scores[e])}"
           for e in torch.nonzero(~torch.isfinite(circuit.edge_scores)).flatten().tolist()]
    if circuit.node_scores is not None:
        for node in graph.nodes:
            value = float(circuit.node_scores[node.index])
            unscored_ok = unscored_nodes or node.upstream_index is None
            if not math.isfinite(value) and not (math.isnan(value) and unscored_ok):
                bad.append(f"nodes[{node.name!r}]['score'] = {value}")
    if circuit.neuron_scores is not None:
        for node in graph.upstream_nodes:
            row = circuit.neuron_scores[node.upstream_index]
            if unscored_nodes and bool(torch.isnan(row).all()):
                continue
            for i in torch.nonzero(~torch.isfinite(row)).flatten().tolist():
                bad.append(f"nodes[{node.name!r}]['neurons_scores'][{i}] = {float(row[i])}")
    return bad


def circuit_to_dict(circuit: Circuit) -> dict[str, Any]:
    """The MIB JSON structure of a circuit; non-finite scores raise :class:`CircuitFileError`.

    A NaN node score (an unscored node, e.g. ``logits``) is left out, as is an all-NaN neuron row.
    """
    _refuse_non_finite(non_finite_entries(circuit), "the circuit")
    graph = circuit.graph
    nodes: dict[str, Any] = {}
    for node in graph.nodes:
        entry: dict[str, Any] = {"in_graph": bool(circuit.node_in_graph[node.index])}
        if circuit.node_scores is not None and not math.isnan(float(circuit.node_scores[node.index])):
            entry["score"] = float(circuit.node_scores[node.index])
        row = node.upstream_index
        if row is not None and circuit.neuron_in_graph is not None:
            entry["neurons"] = [bool(x) for x in circuit.neuron_in_graph[row].tolist()]
        if row is not None and circuit.neuron_scores is not None and not bool(torch.isnan(circuit.neuron_scores[row]).all()):
            entry["neurons_scores"] = [float(x) for x in circuit.neuron_scores[row].tolist()]
        nodes[node.name] = entry
    scores = circuit.edge_scores.tolist()
    in_graph = circuit.edge_in_graph.tolist()
    edges = {e.name: {"score": float(scores[e.index]), "in_graph": bool(in_graph[e.index])} for e in graph.edges}
    return {"cfg": _cfg_dict(graph), "nodes": nodes, "edges": edges}


def circuit_from_dict(data: Any, model_or_graph: Any = None) -> Circuit:
    """Parse the MIB JSON structure (validating everything); see the module docstring."""
    if not isinstance(data, dict):
        raise CircuitFileError(f"a circuit file must hold a JSON object, got {type(data).__name__}")
    for key in ("cfg", "nodes", "edges"):
        if key not in data:
            raise CircuitFileError(f"missing top-level key {key!r}")
    for key in data:
        if key not in ("cfg", "nodes", "edges"):
            raise CircuitFileError(f"unknown top-level key {key!r}")
    graph = _graph_for(model_or_graph, _parse_cfg(data["cfg"]))
    d_model = graph.cfg.d_model

    raw_edges = data["edges"]
    if not isinstance(raw_edges, dict):
        raise CircuitFileError("'edges' must be an object mapping edge names to {score, in_graph}")
    seen = torch.zeros(graph.n_edges, dtype=torch.bool)
    scores_list = [0.0] * graph.n_edges
    in_graph_list = [False] * graph.n_edges
    non_finite: list[str] = []
    unknown = [name for name in raw_edges if name not in graph.edge_by_name]
    if unknown:
        raise CircuitModelMismatchError(
            f"unknown edge {unknown[0]!r}: {len(unknown)} edges of the file are not in the model's graph "
            f"({graph.n_edges} edges), e.g. {_examples([repr(n) for n in unknown])}")
    for name, entry in raw_edges.items():
        edge = graph.edge_by_name[name]
        _check_entry(entry, f"edges[{name!r}]", allowed=_EDGE_KEYS, required=_EDGE_KEYS)
        scores_list[edge.index] = _number(entry["score"], f"edges[{name!r}]['score']")
        if not math.isfinite(scores_list[edge.index]):
            non_finite.append(f"edges[{name!r}]['score'] = {scores_list[edge.index]}")
        in_graph_list[edge.index] = _boolean(entry["in_graph"], f"edges[{name!r}]['in_graph']")
        seen[edge.index] = True
    if not bool(seen.all()):
        missing = graph.edge_names(torch.nonzero(~seen).flatten()[:5])
        raise CircuitModelMismatchError(
            f"{int((~seen).sum())} edges of the model's graph missing from 'edges', e.g. {missing}")
    edge_scores = torch.tensor(scores_list, dtype=torch.float64)
    edge_in_graph = torch.tensor(in_graph_list, dtype=torch.bool)

    raw_nodes = data["nodes"]
    if not isinstance(raw_nodes, dict):
        raise CircuitFileError("'nodes' must be an object mapping node names to {in_graph, ...}")
    node_in_graph = Circuit(graph, edge_in_graph=edge_in_graph).node_in_graph.clone()
    node_scores: Optional[torch.Tensor] = None
    neuron_in_graph: Optional[torch.Tensor] = None
    neuron_scores: Optional[torch.Tensor] = None
    for name, entry in raw_nodes.items():
        node = graph.node_by_name.get(name)
        if node is None:
            raise CircuitModelMismatchError(f"unknown node {name!r}: not in the model's graph")
        _check_entry(entry, f"nodes[{name!r}]", allowed=_NODE_KEYS, required=("in_graph",))
        node_in_graph[node.index] = _boolean(entry["in_graph"], f"nodes[{name!r}]['in_graph']")
        if "score" in entry:
            if node_scores is None:
                node_scores = torch.full((graph.n_nodes,), math.nan, dtype=torch.float64)
            node_scores[node.index] = _number(entry["score"], f"nodes[{name!r}]['score']")
            if not math.isfinite(float(node_scores[node.index])):
                non_finite.append(f"nodes[{name!r}]['score'] = {float(node_scores[node.index])}")
        row = node.upstream_index
        for key in ("neurons", "neurons_scores"):
            if key in entry and row is None:
                raise CircuitFileError(f"nodes[{name!r}] cannot have {key!r} (it has no output)")
        if "neurons" in entry:
            if neuron_in_graph is None:
                neuron_in_graph = torch.ones(graph.n_upstream, d_model, dtype=torch.bool)
            neuron_in_graph[row] = torch.tensor(_bool_list(entry["neurons"], d_model, f"nodes[{name!r}]['neurons']"))
        if "neurons_scores" in entry:
            if neuron_scores is None:
                neuron_scores = torch.full((graph.n_upstream, d_model), math.nan, dtype=torch.float64)
            values = _float_list(entry["neurons_scores"], d_model, f"nodes[{name!r}]['neurons_scores']")
            non_finite += [f"nodes[{name!r}]['neurons_scores'][{i}] = {v}" for i, v in enumerate(values)
                           if not math.isfinite(v)]
            neuron_scores[row] = torch.tensor(values, dtype=torch.float64)
    _refuse_non_finite(non_finite)
    return Circuit(graph, edge_scores, edge_in_graph, node_in_graph, node_scores, neuron_in_graph, neuron_scores)


def write_circuit_json(circuit: Circuit, path: PathLike) -> None:
    """Write ``circuit`` as standard MIB JSON (full precision, no NaN / Infinity), atomically."""
    write_text(path, json.dumps(circuit_to_dict(circuit), allow_nan=False))


def read_circuit_json(path: PathLike, model_or_graph: Any = None) -> Circuit:
    """Read an MIB JSON circuit; ``model_or_graph`` (optional) must match the file's cfg."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise CircuitFileError(f"{path}: not valid JSON ({err})") from err
    return circuit_from_dict(data, model_or_graph)


# ---------------------------------------------------------------------------- .pt
_PT_REQUIRED = ("cfg", "src_nodes", "dst_nodes", "edges_scores", "edges_in_graph", "nodes_in_graph")
_PT_OPTIONAL = ("nodes_scores", "neurons_in_graph", "neurons_scores")


def write_circuit_pt(circuit: Circuit, path: PathLike) -> None:
    """Write ``circuit`` in EAP-IG's ``.pt`` layout (dense ``[n_src, n_dst]`` matrices, float64), atomically.

    Non-finite scores raise :class:`CircuitFileError` (``.pt`` cannot leave an upstream node unscored).
    """
    _refuse_non_finite(non_finite_entries(circuit, unscored_nodes=False), "the circuit",
                       " (.pt stores a score for every upstream node; .json leaves unscored (NaN) nodes out)")
    graph = circuit.graph
    scores = torch.zeros(graph.n_upstream, graph.n_downstream, dtype=torch.float64)
    in_graph = torch.zeros(graph.n_upstream, graph.n_downstream, dtype=torch.bool)
    scores[graph.edge_upstream, graph.edge_downstream] = circuit.edge_scores
    in_graph[graph.edge_upstream, graph.edge_downstream] = circuit.edge_in_graph
    rows = torch.tensor([n.index for n in graph.upstream_nodes], dtype=torch.long)
    data: dict[str, Any] = {
        "cfg": _cfg_dict(graph),
        "src_nodes": graph.upstream_names(),
        "dst_nodes": graph.downstream_names(),
        "edges_scores": scores,
        "edges_in_graph": in_graph,
        "nodes_in_graph": circuit.node_in_graph[rows].clone(),
    }
    if circuit.node_scores is not None:
        data["nodes_scores"] = circuit.node_scores[rows].clone()
    if circuit.neuron_in_graph is not None:
        data["neurons_in_graph"] = circuit.neuron_in_graph.clone()
    if circuit.neuron_scores is not None:
        data["neurons_scores"] = circuit.neuron_scores.clone()
    torch_save(data, path)


def _check_tensor(data: dict, key: str, shape: tuple[int, ...], kind: str) -> torch.Tensor:
    value = data[key]
    if not isinstance(value, torch.Tensor):
        raise CircuitFileError(f"{key!r} must be a tensor, got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise CircuitFileError(f"{key!r} has shape {tuple(value.shape)}, expected {shape}")
    if kind == "bool" and value.dtype != torch.bool:
        if value.is_floating_point() or value.is_complex() or not bool(((value == 0) | (value == 1)).all()):
            raise CircuitFileError(f"{key!r} must be boolean, got dtype {value.dtype}")
        value = value.bool()
    if kind == "float" and not value.is_floating_point():
        raise CircuitFileError(f"{key!r} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def read_circuit_pt(path: PathLike, model_or_graph: Any = None) -> Circuit:
    """Read a ``.pt`` circuit (EAP-IG layout); validates names, shapes, dtypes and cfg."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle / zip errors
        raise CircuitFileError(f"{path}: not a readable torch file ({err})") from err
    if not isinstance(data, dict):
        raise CircuitFileError(f"a .pt circuit must hold a dict, got {type(data).__name__}")
    for key in _PT_REQUIRED:
        if key not in data:
            raise CircuitFileError(f"missing key {key!r}")
    for key in data:
        if key not in _PT_REQUIRED + _PT_OPTIONAL:
            raise CircuitFileError(f"unknown key {key!r}")
    graph = _graph_for(model_or_graph, _parse_cfg(data["cfg"]))
    for key, expected in (("src_nodes", graph.upstream_names()), ("dst_nodes", graph.downstream_names())):
        names = data[key]
        if not isinstance(names, (list, tuple)):
            raise CircuitFileError(f"{key!r} must be a list of node names, got {type(names).__name__}")
        if list(names) != expected:
            extra = [repr(n) for n in names if n not in expected]
            absent = [repr(n) for n in expected if n not in list(names)]
            detail = (f"not in the model's graph: {_examples(extra)}" if extra else
                      f"missing: {_examples(absent)}" if absent else "same names in another order")
            raise CircuitModelMismatchError(
                f"{key!r} does not list the model graph's {len(expected)} nodes in order ({detail})")
    dense = (graph.n_upstream, graph.n_downstream)
    scores = _check_tensor(data, "edges_scores", dense, "float").to(torch.float64)
    in_graph = _check_tensor(data, "edges_in_graph", dense, "bool")
    real = graph.dense_edge_index >= 0
    if bool((in_graph & ~real).any()):
        src, dst = torch.nonzero(in_graph & ~real)[0].tolist()
        raise CircuitFileError(
            f"'edges_in_graph' marks a non-existent edge {graph.upstream_nodes[src].name}->{graph.downstream_inputs[dst].name}")
    edge_scores = scores[graph.edge_upstream, graph.edge_downstream]
    edge_in_graph = in_graph[graph.edge_upstream, graph.edge_downstream]
    node_in_graph = torch.ones(graph.n_nodes, dtype=torch.bool)
    rows = torch.tensor([n.index for n in graph.upstream_nodes], dtype=torch.long)
    node_in_graph[rows] = _check_tensor(data, "nodes_in_graph", (graph.n_upstream,), "bool")
    node_scores = None
    if "nodes_scores" in data:
        node_scores = torch.full((graph.n_nodes,), math.nan, dtype=torch.float64)
        node_scores[rows] = _check_tensor(data, "nodes_scores", (graph.n_upstream,), "float").to(torch.float64)
    neuron_shape = (graph.n_upstream, graph.cfg.d_model)
    neuron_in_graph = _check_tensor(data, "neurons_in_graph", neuron_shape, "bool") if "neurons_in_graph" in data else None
    neuron_scores = _check_tensor(data, "neurons_scores", neuron_shape, "float") if "neurons_scores" in data else None
    circuit = Circuit(graph, edge_scores, edge_in_graph, node_in_graph, node_scores, neuron_in_graph, neuron_scores)
    _refuse_non_finite(non_finite_entries(circuit, unscored_nodes=False))
    return circuit


# ---------------------------------------------------------------------------- by extension
def write_circuit(circuit: Circuit, path: PathLike) -> None:
    """Write by extension: ``.json`` or ``.pt``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        write_circuit_json(circuit, path)
    elif suffix == ".pt":
        write_circuit_pt(circuit, path)
    else:
        raise CircuitFileError(f"unknown circuit file extension {suffix!r} (use .json or .pt)")


def read_circuit(path: PathLike, model_or_graph: Any = None) -> Circuit:
    """Read by extension: ``.json`` or ``.pt``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return read_circuit_json(path, model_or_graph)
    if suffix == ".pt":
        return read_circuit_pt(path, model_or_graph)
    raise CircuitFileError(f"unknown circuit file extension {suffix!r} (use .json or .pt)")
