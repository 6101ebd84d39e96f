"""Information flow routes (Ferrando & Voita 2024): edge importances from one clean forward pass.

Each downstream input ``y`` (a head's q/k/v input, an MLP input, the logits' input) is the sum of
its parents' outputs ``x_u`` plus constant terms (biases, positional embeddings are in ``input``).
The importance of ``u -> y`` at one position is the L1 proximity of ``x_u`` to ``y``, normalised
over the parents::

    proximity(u) = max(0, ||y||_1 - ||y - x_u||_1),    importance(u) = proximity(u) / sum_u' proximity(u')

Importances are averaged over the real (non-padding) tokens of each clean example, then over
examples (as the EAP-IG / MIB implementation does). They are non-negative and, for each downstream
input, sum to 1 over its parents (positions where every proximity is 0 are skipped). No metric,
no corrupted data and no ablation are used; the ``ablation`` setting is ignored. Node level: a
node's score is the sum of its outgoing edge importances (every edge scored by its parent).
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import Circuit, ComputationalGraph, check_model_prepared
from circuits_benchmark.methods.base import ABLATIONS, MethodConfig, discovery_method
from circuits_benchmark.methods.eap import example_chunks, examples_per_forward, node_level_circuit
from circuits_benchmark.tasks import PatchingTask

Tensor = torch.Tensor
MAX_ELEMENTS = 2 ** 25  # largest temporary tensor of the proximity computation


def proximity_importance(y: Tensor, parents: Tensor) -> tuple[Tensor, Tensor]:
    """``y [..., d]``, ``parents [..., n, d]`` -> (importance ``[..., n]``, defined ``[...]`` bool)."""
    proximity = (y.abs().sum(-1, keepdim=True) - (y.unsqueeze(-2) - parents).abs().sum(-1)).clamp(min=0)
    total = proximity.sum(-1, keepdim=True)
    defined = total.squeeze(-1) > 0
    return torch.where(total > 0, proximity / total.clamp(min=torch.finfo(total.dtype).tiny), 0.0), defined


def _node_outputs(cache: dict, graph: ComputationalGraph) -> Tensor:
    rows, seen = [], set()
    for node in graph.upstream_nodes:
        if node.output_hook in seen:
            continue
        seen.add(node.output_hook)
        act = cache[node.output_hook]
        rows.append(act if act.ndim == 4 else act.unsqueeze(-2))
    return torch.cat(rows, dim=-2)


@torch.no_grad()
def ifr_edge_scores(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Tensor:
    """``[n_edges]`` information-flow importances (float64, each downstream input's parents sum to 1)."""
    model = task.model
    check_model_prepared(model)
    n = task.clean_tokens.shape[0]
    dense = torch.zeros(graph.n_upstream, graph.n_downstream, dtype=torch.float64)
    counts = torch.zeros(graph.n_downstream, dtype=torch.float64)
    groups: dict[str, list[int]] = {}
    for d in graph.downstream_inputs:
        groups.setdefault(d.hook_name, []).append(d.index)
    hook_names = {n_.output_hook for n_ in graph.upstream_nodes} | set(groups)
    chunks = list(example_chunks(n, examples_per_forward(config)))
    for rows in tqdm(chunks, desc="information flow routes", disable=not config.progress or len(chunks) < 4):
        attention = None if task.clean_mask is None else task.clean_mask[rows]
        kwargs = {} if attention is None else {"attention_mask": attention}
        _, cache = model.run_with_cache(task.clean_tokens[rows], names_filter=lambda name: name in hook_names, **kwargs)
        outputs = _node_outputs(cache, graph)  # [b, p, n_up, d]
        real = torch.ones(outputs.shape[:2], dtype=torch.bool, device=outputs.device) if attention is None else attention.bool()
        for hook_name, indices in groups.items():
            y = cache[hook_name]
            y = y if y.ndim == 4 else y.unsqueeze(-2)  # [b, p, k, d] for the k inputs of this hook
            n_parents = graph.downstream_inputs[indices[0]].n_parents
            parents = outputs[..., :n_parents, :].unsqueeze(2)  # [b, p, 1, n, d]
            # bound the [rows, p, k, n, d] difference tensor (large models) by splitting the rows
            per_row = max(1, y.shape[1] * y.shape[2] * n_parents * y.shape[3])
            step = max(1, MAX_ELEMENTS // per_row)
            parts = [proximity_importance(y[i:i + step], parents[i:i + step]) for i in range(0, y.shape[0], step)]
            importance = torch.cat([a for a, _ in parts])  # [b, p, k, n]
            defined = torch.cat([b_ for _, b_ in parts])  # [b, p, k]
            weight = (defined & real[:, :, None]).to(torch.float64)  # [b, p, k]
            per_position = weight.sum(1)  # [b, k]
            per_example = (importance.to(torch.float64) * weight.unsqueeze(-1)).sum(1) / per_position.clamp(min=1).unsqueeze(-1)
            valid = per_position > 0  # [b, k]
            idx = torch.tensor(indices, dtype=torch.long)
            dense[:n_parents, idx] += (per_example * valid.unsqueeze(-1)).sum(0).T.cpu()
            counts[idx] += valid.sum(0).to(torch.float64).cpu()
    dense = dense / counts.clamp(min=1)
    return dense[graph.edge_upstream, graph.edge_downstream]


@discovery_method("ifr", "information flow routes (Ferrando & Voita 2024): L1 proximity of contributions, one forward",
                  levels=("edge", "node"), ablations=ABLATIONS)
def ifr(task: PatchingTask, graph: ComputationalGraph, config: MethodConfig) -> Circuit:
    scores = ifr_edge_scores(task, graph, config)
    if config.level == "edge":
        return Circuit.from_scores(graph, scores)
    node_scores = torch.zeros(graph.n_nodes, dtype=torch.float64).index_add_(0, graph.edge_parent, scores)
    node_scores[graph.node_index("logits")] = math.nan
    return node_level_circuit(graph, node_scores)
