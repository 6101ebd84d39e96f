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


def tracr_outputs(compilation: TracrCompilation, inputs: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Tracr's decoded outputs (as `model.apply(...).decoded[1:]`), one jitted call per input length.

    Jitting compiles the forward pass once instead of every primitive, several times faster.
    """
    import jax
    import jax.numpy as jnp

    assembled = compilation.model
    forward = jax.jit(assembled.forward)
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(inputs):
        by_length.setdefault(len(x), []).append(i)
    outputs: list[list[Any]] = [[] for _ in inputs]
    for rows in by_length.values():
        ids = jnp.array([assembled.input_encoder.encode([BOS] + list(inputs[i])) for i in rows])
        unembedded = forward(assembled.params, ids).unembedded_output
        for i, row in zip(rows, unembedded.tolist()):
            outputs[i] = assembled.output_encoder.decode(row)[1:]
    return outputs


def compare_with_tracr(
    compilation: TracrCompilation, model: HookedTransformer, encoding: TracrEncoding, inputs: Sequence[Sequence[Any]]
) -> list[Mismatch]:
    """Inputs on which the HookedTransformer's decoded output differs from Tracr's.

    Positions where the RASP program's value is None are skipped: there Tracr's categorical output is
    zero in every direction and its decoded argmax is floating-point noise in both models.
    """
    tokens = encoding.encode(inputs, device=model.cfg.device)
    with torch.no_grad():
        ours = encoding.decode(model(tokens, attention_mask=encoding.attention_mask(tokens)), tokens)
    expected = tracr_outputs(compilation, inputs)
    found = []
    for x, out, exp in zip(inputs, ours, expected):
        defined = [v is not None for v in rasp.evaluate(compilation.program, list(x))]
        kept_out = [o for o, d in zip(out, defined) if d]
        kept_exp = [e for e, d in zip(exp, defined) if d]
        if not outputs_match(kept_out, kept_exp, compilation.is_categorical):
            found.append(Mismatch(list(x), "output", out, exp))
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
