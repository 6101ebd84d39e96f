"""The high-level IOI algorithm as a hooked module, its alignment to an LL transformer, and its true edges.

Nodes (each a `HookPoint`, so `run_with_hooks` / `run_with_cache` can read and overwrite them), after
InterpBench's IOI high-level model (iit library, `iit/tasks/ioi`), written anew:

- `names` `[b, pos]`: the token where it is a name, else -1 (the input, as the circuit reads it).
- `duplicate` `[b, pos]`: duplicate-token detection; the latest earlier position holding the same
  name, else -1 (at S2 it points to S1).
- `s_inhibition` `[b, pos]`: the name found at the position `duplicate` points to, else -1 (at S2:
  the subject, the name to suppress).
- `name_mover` `[b, pos, vocab]`: the output logits; running sums over positions of +10 for every
  name seen and -15 for every inhibited name. At the answer position the IO has 10, the subject
  20 - 15 = 5 and every other token 0, so the IO wins.

LL alignment (InterpBench: duplicate heads in layer 0, S-inhibition in layer 2, name movers in layer 4
of a 6-layer, 4-head, d_model 64 model; here the first `heads_per_node` heads of those layers), and
with `include_mlp` the `names` node at MLP 0 (the duplicate heads then move to layer 1, which can read it).
"""

from __future__ import annotations

from typing import Optional

import torch
from transformer_lens.hook_points import HookedRootModule, HookPoint

from circuits_benchmark.ioi.data import DEFAULT_VOCAB, IOIVocab
from circuits_benchmark.tracr_compat.alignment import Component
from circuits_benchmark.training.correspondence import Correspondence, HLNode

NAME_BOOST = 10.0
INHIBITION = 15.0
HL_NODES = ("names", "duplicate", "s_inhibition", "name_mover")
HL_EDGES = (
    ("input", "names"),
    ("names", "duplicate"),
    ("names", "s_inhibition"),
    ("duplicate", "s_inhibition"),
    ("names", "name_mover"),
    ("s_inhibition", "name_mover"),
    ("name_mover", "logits"),
)
"""Data flow between HL nodes (`input` = token and position embeddings, `logits` = the output)."""


class IOIHighLevel(HookedRootModule):
    """Hand-written IOI algorithm: tokens `[b, pos]` -> logits `[b, pos, vocab]`."""

    def __init__(self, vocab: IOIVocab = DEFAULT_VOCAB):
        super().__init__()
        self.vocab = vocab
        self.register_buffer("name_ids", vocab.name_ids, persistent=False)
        self.hook_names = HookPoint()
        self.hook_duplicate = HookPoint()
        self.hook_s_inhibition = HookPoint()
        self.hook_name_mover = HookPoint()
        self.setup()

    @staticmethod
    def hook_name(node: str) -> str:
        if node not in HL_NODES:
            raise KeyError(f"no HL node {node!r}; nodes: {HL_NODES}")
        return f"hook_{node}"

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        names = self.hook_names(torch.where(torch.isin(tokens, self.name_ids.to(tokens.device)), tokens, -1))
        duplicate = self.hook_duplicate(self.duplicates(names))
        s_inhibition = self.hook_s_inhibition(self.inhibited(names, duplicate))
        return self.hook_name_mover(self.move_names(names, s_inhibition))

    @staticmethod
    def duplicates(names: torch.Tensor) -> torch.Tensor:
        """Latest earlier position with the same name (-1: none, or not a name)."""
        pos = names.shape[1]
        same = (names[:, :, None] == names[:, None, :]) & (names[:, :, None] >= 0)
        earlier = torch.ones(pos, pos, dtype=torch.bool, device=names.device).tril(-1)
        idx = torch.arange(1, pos + 1, device=names.device)
        return ((same & earlier) * idx).max(dim=-1).values - 1

    @staticmethod
    def inhibited(names: torch.Tensor, duplicate: torch.Tensor) -> torch.Tensor:
        """The name at the position `duplicate` points to (-1 where it points nowhere)."""
        found = names.gather(1, duplicate.clamp(min=0))
        return torch.where(duplicate >= 0, found, -1)

    def move_names(self, names: torch.Tensor, s_inhibition: torch.Tensor) -> torch.Tensor:
        """Running sums of +10 per name seen and -15 per inhibited name, as logits over the vocabulary."""
        b, pos = names.shape
        scores = torch.zeros(b, pos, self.vocab.size, device=names.device)
        scores.scatter_add_(2, names.clamp(min=0)[..., None], (names >= 0).float()[..., None] * NAME_BOOST)
        scores.scatter_add_(2, s_inhibition.clamp(min=0)[..., None], (s_inhibition >= 0).float()[..., None] * -INHIBITION)
        return scores.cumsum(dim=1)

    @torch.no_grad()
    def node_values(self, tokens: torch.Tensor, nodes: tuple[str, ...] = HL_NODES) -> dict[str, torch.Tensor]:
        """Values of `nodes` on `tokens`."""
        _, cache = self.run_with_cache(tokens, names_filter=[self.hook_name(n) for n in nodes])
        return {n: cache[self.hook_name(n)] for n in nodes}

    @torch.no_grad()
    def intervene(self, base: torch.Tensor, source: torch.Tensor, node: str) -> torch.Tensor:
        """Logits on `base` with `node` set to its value on `source` (an interchange intervention)."""
        value = self.node_values(source, (node,))[node]
        return self.run_with_hooks(base, fwd_hooks=[(self.hook_name(node), lambda act, hook: value)])


# --------------------------------------------------------------------------- alignment
def circuit_layers(n_layers: int, first: int = 0) -> dict[str, int]:
    """Layers of the duplicate, S-inhibition and name-mover heads: 0, 2, 4 for 6 layers (InterpBench).

    `first` is the duplicate heads' layer (1 when MLP 0 computes the `names` they read).
    """
    s_inh = max(first + 1, n_layers // 3)
    layers = {"duplicate": first, "s_inhibition": s_inh, "name_mover": max(s_inh + 1, (2 * n_layers) // 3)}
    if layers["name_mover"] >= n_layers:
        raise ValueError(f"the IOI circuit needs an LL model with at least {layers['name_mover'] + 1} layers, got {n_layers}")
    return layers


def ioi_correspondence(
    n_layers: int = 6, n_heads: int = 4, heads_per_node: int = 2, include_mlp: bool = False
) -> Correspondence:
    """HL node -> LL components; `include_mlp` aligns the `names` node to MLP 0 (and moves the duplicate
    heads to layer 1, after it)."""
    if not 1 <= heads_per_node <= n_heads:
        raise ValueError(f"heads_per_node must be between 1 and n_heads={n_heads}, got {heads_per_node}")
    nodes = []
    if include_mlp:
        nodes.append(HLNode("names", (Component("mlp", 0),)))
    for label, layer in circuit_layers(n_layers, first=1 if include_mlp else 0).items():
        nodes.append(HLNode(label, tuple(Component("head", layer, h) for h in range(heads_per_node))))
    return Correspondence(tuple(nodes), n_layers, n_heads)


def ioi_true_edges(corr: Correspondence, qkv: bool = True, node_induced: bool = False) -> list[str]:
    """Ground-truth edges (MIB names) implied by the HL data flow and the alignment.

    An HL node without LL components (`names` unless `include_mlp`) is computed from the input, so its
    edges pass straight from `input`. Every circuit head also reads the input (its token or position).
    A head child gets all of q, k and v (the HL algorithm does not say which input carries what; compare
    at head level, as InterpBench does); `qkv=False` drops the suffixes.

    `node_induced=True` gives every edge between the circuit's nodes (input, aligned heads / MLP,
    logits) instead: IIT constrains nodes, not edges, and a trained model may also read e.g. the
    duplicate heads directly in the name movers (the residual stream offers those paths).
    """
    if node_induced:
        return _node_induced_edges(corr, qkv)
    aligned = {n.label: list(n.components) for n in corr.hl_nodes}
    sources: dict[str, list[str]] = {"input": ["input"], "logits": ["logits"]}
    for label in HL_NODES:
        sources[label] = [c.mib_name for c in aligned[label]] if label in aligned else ["input"]
    pairs: set[tuple[str, str]] = set()
    for parent, child in HL_EDGES:
        for p in sources[parent]:
            for c in sources[child]:
                if p != c:
                    pairs.add((p, c))
    for label in ("duplicate", "s_inhibition", "name_mover"):
        for c in sources[label]:
            pairs.add(("input", c))
    edges = set()
    for p, c in pairs:
        if c.startswith("a") and qkv:
            edges.update(f"{p}->{c}<{x}>" for x in "qkv")
        else:
            edges.add(f"{p}->{c}")
    return sorted(edges)


def _node_induced_edges(corr: Correspondence, qkv: bool) -> list[str]:
    comps = sorted(corr.circuit_components, key=lambda c: (c.layer, c.kind != "head", c.head))
    edges = {"input->logits"}
    for i, child in enumerate(comps):
        parents = ["input"] + [p.mib_name for p in comps[:i] if p.layer < child.layer or
                               (p.layer == child.layer and p.kind == "head" and child.kind == "mlp")]
        for p in parents:
            if child.kind == "head" and qkv:
                edges.update(f"{p}->{child.mib_name}<{x}>" for x in "qkv")
            else:
                edges.add(f"{p}->{child.mib_name}")
        edges.add(f"{child.mib_name}->logits")
    return sorted(edges)


def true_circuit(graph, corr: Correspondence, prune: bool = False, node_induced: bool = False):
    """The ground-truth `Circuit` on `graph` (built from the LL model); see `ioi_true_edges`."""
    from circuits_benchmark.graph import Circuit

    edges = ioi_true_edges(corr, qkv=_graph_has_qkv(graph), node_induced=node_induced)
    return Circuit.from_edges(graph, edges, prune=prune)


def _graph_has_qkv(graph) -> bool:
    try:
        graph.edge_indices(["input->a0.h0<q>"])
        return True
    except Exception:
        return False

