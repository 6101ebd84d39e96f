"""Node patching: blend whole node outputs toward a source, for circuits made of nodes.

Removing a node removes all of its outgoing edges, so a node-level circuit needs no per-edge
corrections at the downstream inputs: every reader of node ``u`` sees the same blended output::

    out_u' = out_u + (1 - m_u) * (source_u - out_u)

This pass applies that at each node's output hook and equals ``patched_forward`` with
``graph.node_mask_to_edge_mask(node_mask)`` (to float precision), while running the blocks as plain
TransformerLens blocks: no per-head q/k/v inputs, no ``hook_mlp_in``, no per-head results. Heads are
scaled at ``hook_z`` (``z_h' = m_h z_h``, so their projection by ``W_O`` carries ``m_h out_h``) and
``sum_h (1 - m_h) source_h`` is added at the layer's ``hook_attn_out``. It is the pass behind
node-level subnetwork probing, optimal-ablation learning and node-removal evaluations.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch

from .graph import ComputationalGraph, check_model_prepared
from .patching import (
    CleanRun,
    PatchSource,
    _model_device_dtype,
    _readers,
    chunks_by_start,
    may_start_late,
    resolve_source,
    run_circuits,
)

Tensor = torch.Tensor


def _upstream_columns(graph: ComputationalGraph) -> list[int]:
    return [node.index for node in graph.upstream_nodes]


def node_start_layer(graph: ComputationalGraph, node_masks: Tensor) -> Tensor:
    """``[N]``: per node mask ``[N, n_nodes]``, the first block whose output it patches (the input node
    counts as block 0; ``n_layers - 1`` if it patches nothing, since the logits still need the last block)."""
    layers = torch.tensor([max(node.layer, 0) for node in graph.upstream_nodes], device=node_masks.device)
    patched = node_masks[:, _upstream_columns(graph)] != 1
    last = graph.cfg.n_layers - 1
    return torch.where(patched, layers, torch.full_like(layers, last)).min(-1).values.clamp(max=last).cpu()


def node_layer_chunks(graph: ComputationalGraph, node_masks: Tensor, per_batch: int) -> list[Tensor]:
    """Indices of ``node_masks [N, n_nodes]`` in chunks of at most ``per_batch``, no chunk mixing start
    layers (``node_start_layer``), so every pass from the clean run starts as late as its circuits allow."""
    return chunks_by_start(node_start_layer(graph, node_masks), per_batch, one_layer=True)


def patched_forward_nodes(model: Any, graph: ComputationalGraph, clean_tokens: Tensor, node_mask: Tensor,
                          source: Union[PatchSource, Tensor], attention_mask: Optional[Tensor] = None,
                          clean: Optional[CleanRun] = None) -> Tensor:
    """Logits of ``model`` on ``clean_tokens`` with node outputs blended toward ``source`` (module doc).

    Args:
        node_mask: ``[n_nodes]`` or ``[C, n_nodes]`` float (1 = node kept, 0 = its output patched
            everywhere; values in between interpolate; differentiable). The logits entry is ignored.
        source: a ``PatchSource`` or precomputed activations (see ``resolve_source``).
        clean: the cached clean run of these tokens: a pass whose masks need no gradient starts at the
            first block whose output it patches.

    Returns:
        ``[batch, pos, d_vocab]`` logits, or ``[C, batch, pos, d_vocab]`` for a batch of masks.
    """
    check_model_prepared(model)
    device, dtype = _model_device_dtype(model)
    if node_mask.shape[-1] != graph.n_nodes:
        raise ValueError(f"node mask has {node_mask.shape[-1]} entries, graph has {graph.n_nodes} nodes")
    single = node_mask.ndim == 1
    masks = (node_mask.unsqueeze(0) if single else node_mask).to(device=device, dtype=dtype)
    n_circuits = masks.shape[0]
    batch = clean_tokens.shape[0]
    source_acts = resolve_source(model, graph, source, tuple(clean_tokens.shape))  # [B|1, P|1, n_up, d]
    start = 0
    if may_start_late(model, clean, clean_tokens, masks.requires_grad):
        start = int(node_start_layer(graph, masks).min())
    kept = masks[:, _upstream_columns(graph)]  # [C, n_up]
    patched = (kept != 1).any(0).tolist() if not kept.requires_grad else [True] * graph.n_upstream
    hooks: list[tuple[str, Callable]] = []
    for reader in _readers(model, graph):
        rows = slice(reader.start, reader.start + reader.count)
        layer = max(graph.upstream_nodes[reader.start].layer, 0)
        if layer < start or not any(patched[rows]):
            continue
        m, src = kept[:, rows], source_acts[..., rows, :]
        if reader.w_out is None:
            hooks.append((reader.hook, _blend_hook(n_circuits, batch, m[:, 0], src[..., 0, :])))
        else:
            hooks.append((reader.hook, _scale_heads_hook(n_circuits, batch, m)))
            added = torch.einsum("ch,...hd->c...d", 1.0 - m, src)  # [C, B|1, P|1, d]
            hooks.append((f"blocks.{layer}.hook_attn_out", _add_hook(n_circuits, batch, added)))
    logits = run_circuits(model, clean_tokens, n_circuits, hooks, attention_mask, clean, start, plain_blocks=True)
    return logits[0] if single else logits


def _blend_hook(n_circuits: int, batch: int, m: Tensor, src: Tensor) -> Callable:
    """Residual-shaped output: ``act + (1 - m) * (src - act)`` per circuit (``m [C]``)."""
    weight = (1.0 - m)[:, None, None, None]

    def hook(act: Tensor, hook: Any) -> Tensor:
        view = act.view(n_circuits, batch, *act.shape[1:])
        return (view + weight * (src - view)).view(act.shape)
    return hook


def _scale_heads_hook(n_circuits: int, batch: int, m: Tensor) -> Callable:
    """``hook_z [C*B, P, H, d_head]``: head ``h`` of circuit ``c`` scaled by ``m[c, h]``."""
    scale = m[:, None, None, :, None]

    def hook(act: Tensor, hook: Any) -> Tensor:
        return (act.view(n_circuits, batch, *act.shape[1:]) * scale).view(act.shape)
    return hook


def _add_hook(n_circuits: int, batch: int, added: Tensor) -> Callable:
    def hook(act: Tensor, hook: Any) -> Tensor:
        return (act.view(n_circuits, batch, *act.shape[1:]) + added).view(act.shape)
    return hook
