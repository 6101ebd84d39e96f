"""Compile a RASP program with Tracr, keeping the compiler's graph and layer allocation.

`tracr.compiler.compiling.compile_rasp_to_model` throws the RASP graph away; the ground-truth
circuit needs it, so the same passes are run here one by one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import networkx as nx
from tracr.compiler import (
    assemble,
    basis_inference,
    craft_graph_to_model,
    craft_model_to_transformer,
    expr_to_craft_graph,
    nodes,
    rasp_to_graph,
    validating,
)
from tracr.craft import bases
from tracr.rasp import rasp

BOS = "BOS"
PAD = "PAD"


@dataclass
class TracrCompilation:
    """Everything Tracr produced for one program.

    Attributes:
        program: the compiled RASP program (output SOp).
        model: Tracr's assembled transformer (JAX parameters, encoders, `apply`).
        graph: the RASP computation graph annotated by every compiler pass.
        sink: the graph node of the program's output.
        layer_allocation: RASP node label -> Tracr half-layer (even: attention, odd: MLP).
        max_seq_len: longest input without BOS.
    """

    program: rasp.SOp
    model: assemble.AssembledTransformerModel
    graph: nx.DiGraph
    sink: dict[str, Any]
    layer_allocation: dict[str, int]
    max_seq_len: int

    @property
    def is_categorical(self) -> bool:
        return rasp.is_categorical(self.program)


def compile_program(
    program: rasp.SOp,
    vocab: set,
    max_seq_len: int,
    causal: bool = True,
    mlp_exactness: int = 100,
) -> TracrCompilation:
    """Compile `program` exactly as `compile_rasp_to_model` does, keeping the intermediate graph."""
    for special in (BOS, PAD):
        if special in vocab:
            raise ValueError(f"the vocabulary must not contain the reserved token {special!r}")
    unsupported = validating.static_validate(program)
    if unsupported:
        reasons = "\n".join(f"{u.expr.name}: {u.reason}" for u in unsupported)
        raise NotImplementedError(f"Tracr cannot compile these RASP expressions:\n{reasons}")

    extracted = rasp_to_graph.extract_rasp_graph(program)
    graph, sources, sink = extracted.graph, extracted.sources, extracted.sink
    basis_inference.infer_bases(graph, sink, set(vocab), max_seq_len)
    expr_to_craft_graph.add_craft_components_to_rasp_graph(
        graph,
        bos_dir=bases.BasisDirection(rasp.tokens.label, BOS),
        mlp_exactness=mlp_exactness,
    )
    # The allocation is a pure function of the graph, so this is the one the model uses.
    layer_allocation = dict(craft_graph_to_model._allocate_modules_to_layers(graph, sources))
    craft_model = craft_graph_to_model.craft_graph_to_model(graph, sources)
    model = craft_model_to_transformer.craft_model_to_transformer(
        craft_model=craft_model,
        graph=graph,
        sink=sink,
        max_seq_len=max_seq_len,
        causal=causal,
        compiler_bos=BOS,
        compiler_pad=PAD,
    )
    return TracrCompilation(program, model, graph, sink, layer_allocation, max_seq_len)


def reset_rasp_ids() -> None:
    """Restart RASP's automatic label counter so that unnamed SOps get reproducible labels."""
    rasp.RASPExpr._ids = itertools.count(1)


def node_block(graph: nx.DiGraph, label: str):
    """The craft block Tracr built for a RASP node, or None (inputs, selectors)."""
    return graph.nodes[label].get(nodes.MODEL_BLOCK)
