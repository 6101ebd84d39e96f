"""Checks that a converted model really is Tracr's model and the alignment really is its circuit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from tracr.compiler import nodes
from tracr.rasp import rasp
from transformer_lens import HookedTransformer

from circuits_benchmark.tracr_compat.alignment import TracrAlignment
from circuits_benchmark.tracr_compat.compile import BOS, TracrCompilation
from circuits_benchmark.tracr_compat.encoding import TracrEncoding
from circuits_benchmark.utils.equality import outputs_match


@dataclass
class Mismatch:
    input: list[Any]
    what: str
    ours: Any
    expected: Any


def compare_with_tracr(
    compilation: TracrCompilation, model: HookedTransformer, encoding: TracrEncoding, inputs: Sequence[Sequence[Any]]
) -> list[Mismatch]:
    """Inputs on which the HookedTransformer's decoded output differs from Tracr's `apply`."""
    tokens = encoding.encode(inputs, device=model.cfg.device)
    with torch.no_grad():
        ours = encoding.decode(model(tokens, attention_mask=encoding.attention_mask(tokens)), tokens)
    found = []
    for x, out in zip(inputs, ours):
        expected = compilation.model.apply([BOS] + list(x)).decoded[1:]
        if not outputs_match(out, expected, compilation.is_categorical):
            found.append(Mismatch(list(x), "output", out, expected))
    return found


def check_alignment(
    compilation: TracrCompilation,
    alignment: TracrAlignment,
    model: HookedTransformer,
    encoding: TracrEncoding,
    inputs: Sequence[Sequence[Any]],
    atol: float = 1e-2,
) -> list[Mismatch]:
    """Places where a component aligned to a RASP node does not write that node's value.

    For every RASP node with weights, the summed output of its writer components is read in the
    residual directions Tracr reserved for the node: for a categorical node the largest direction
    must be the RASP value, for a numerical node the single direction must equal it.
    """
    labels = compilation.model.residual_labels
    tokens = encoding.encode(inputs, device=model.cfg.device)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, attention_mask=encoding.attention_mask(tokens))
    found = []
    for label in compilation.layer_allocation:
        node = compilation.graph.nodes[label]
        expr, basis = node[nodes.EXPR], node[nodes.OUTPUT_BASIS]
        dims = [labels.index(str(d)) for d in basis]
        written = sum(
            cache[c.hook_name][:, :, c.head] if c.kind == "head" else cache[c.hook_name]
            for c in alignment.writers(label)
        )[..., dims]
        for row, x in enumerate(inputs):
            values = rasp.evaluate(expr, list(x))
            for pos, value in enumerate(values):
                if value is None:
                    continue
                vec = written[row, pos + 1]
                if rasp.is_categorical(expr):
                    got = basis[int(vec.argmax())].value
                    ok = got == value
                else:
                    got = float(vec[0])
                    ok = math.isclose(got, float(value), abs_tol=atol)
                if not ok:
                    found.append(Mismatch(list(x), f"{label}[{pos}]", got, value))
    return found
