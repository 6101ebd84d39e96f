"""The IOI model pair: the HL algorithm, the LL transformer, the three SIIT losses and the metrics.

Like `training.ModelPair`, but the HL model is `IOIHighLevel`
and outputs are compared at each prompt's answer position: cross-entropy against the HL argmax
(where the HL output has a unique maximum). In `next_token` mode the behaviour loss also trains
the LL model to predict the next template token at every earlier position (language-model style).
Heads are patched at `hook_z` (the same effect as patching their `hook_result`), which lets training
run in `fast_mode` (no per-head results or split q/k/v inputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformer_lens import HookedTransformer

from circuits_benchmark.ioi.data import IOIBatch
from circuits_benchmark.ioi.hl_model import IOIHighLevel
from circuits_benchmark.tracr_compat.alignment import Component
from circuits_benchmark.training.correspondence import Correspondence, HLNode, group_by_hook
from circuits_benchmark.training.pair import STRICT_SAMPLING, fast_mode, run_patched, source_cache, strict_source_cache

__all__ = ["IOIPair", "fast_mode", "run_patched", "at_answer", "defined"]

MIN_MARGIN = 0.5
"""An HL output whose two largest logits differ by less than this has no defined answer (a tie)."""


def at_answer(logits: torch.Tensor, batch: IOIBatch) -> torch.Tensor:
    """`[n, vocab]` logits at each prompt's answer position."""
    return logits[torch.arange(logits.shape[0], device=logits.device), batch.answer_pos.to(logits.device)]


def defined(hl_answer: torch.Tensor) -> torch.Tensor:
    """Boolean `[n]`: the HL answer is a unique maximum."""
    top = hl_answer.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]) > MIN_MARGIN


@dataclass
class IOIPair:
    """HL IOI algorithm, LL model and their correspondence.

    `strict_sampling`: non-circuit nodes the strict loss ablates per step: "one" (default), "all",
    "random-subset" or "one+all" (see `Correspondence.sample_strict_groups`).
    """

    hl_model: IOIHighLevel
    ll_model: HookedTransformer
    corr: Correspondence
    next_token: bool = False
    strict_sampling: str = "one"
    rng: Optional[np.random.Generator] = None
    strict_source_grads: bool = False
    """As `training.pair.ModelPair.strict_source_grads`."""
    iit_source_grads: bool = False
    """As `training.pair.ModelPair.iit_source_grads`."""
    hl_node_weights: Optional[np.ndarray] = None
    """As `training.pair.ModelPair.hl_node_weights`."""

    def __post_init__(self) -> None:
        if self.strict_sampling not in STRICT_SAMPLING:
            raise ValueError(f"strict sampling must be one of {STRICT_SAMPLING}, not {self.strict_sampling!r}")
        if self.rng is None:
            self.rng = np.random.default_rng(0)
        self.hl_model.to(next(self.ll_model.parameters()).device)

    # ------------------------------------------------------------ comparisons
    @staticmethod
    def answer_loss(ll_answer: torch.Tensor, hl_answer: torch.Tensor) -> torch.Tensor:
        keep = defined(hl_answer)
        if not keep.any():
            return ll_answer.sum() * 0.0
        return F.cross_entropy(ll_answer[keep], hl_answer[keep].argmax(-1))

    @staticmethod
    def answer_correct(ll_answer: torch.Tensor, hl_answer: torch.Tensor) -> torch.Tensor:
        keep = defined(hl_answer)
        return (ll_answer.argmax(-1) == hl_answer.argmax(-1))[keep]

    # ------------------------------------------------------------ forward runs
    @torch.no_grad()
    def hl_answer(self, batch: IOIBatch) -> torch.Tensor:
        return at_answer(self.hl_model(batch.tokens), batch)

    @torch.no_grad()
    def hl_intervened(self, base: IOIBatch, source: IOIBatch, node: HLNode) -> torch.Tensor:
        return at_answer(self.hl_model.intervene(base.tokens, source.tokens, node.label), base)

    def ll_logits(self, batch: IOIBatch) -> torch.Tensor:
        return self.ll_model(batch.tokens)

    def ll_intervened(self, base: IOIBatch, source: IOIBatch, components: Sequence[Component],
                      cache: Optional[dict[str, torch.Tensor]] = None) -> torch.Tensor:
        """LL answer logits on `base` with `components` taken from the run on `source` (or from `cache`)."""
        return at_answer(run_patched(self.ll_model, base.tokens, source.tokens, list(components), cache=cache), base)

    # ------------------------------------------------------------------ losses
    def sample_hl_node(self) -> HLNode:
        return self.corr.sample_hl_node(self.rng, self.hl_node_weights)

    def sample_strict_groups(self) -> list[list[Component]]:
        return self.corr.sample_strict_groups(self.rng, self.strict_sampling)

    def iit_loss(self, base: IOIBatch, source: IOIBatch, node: Optional[HLNode] = None) -> torch.Tensor:
        node = node or self.sample_hl_node()
        cache = source_cache(self.ll_model, source.tokens, list(node.components), grad=self.iit_source_grads)
        return self.answer_loss(self.ll_intervened(base, source, node.components, cache),
                                self.hl_intervened(base, source, node))

    def strict_loss(self, base: IOIBatch, source: IOIBatch, nodes: Optional[Sequence[Component]] = None) -> torch.Tensor:
        groups = self.sample_strict_groups() if nodes is None else [list(nodes)]
        hl = self.hl_answer(base)
        cache = strict_source_cache(self.ll_model, source.tokens, groups, grad=self.strict_source_grads)
        return torch.stack([self.answer_loss(self.ll_intervened(base, source, g, cache), hl) for g in groups]).mean()

    def behavior_loss(self, base: IOIBatch) -> torch.Tensor:
        logits = self.ll_logits(base)
        loss = self.answer_loss(at_answer(logits, base), self.hl_answer(base))
        if self.next_token:
            prefix = base.prefix_mask()
            loss = loss + F.cross_entropy(logits[prefix], base.next_tokens[prefix])
        return loss

    # ----------------------------------------------------------------- metrics
    @torch.no_grad()
    def evaluate(self, base: IOIBatch, source: IOIBatch, batch_size: int = 1000) -> dict[str, float]:
        """IIA (mean over HL nodes), strict accuracy (mean over non-circuit nodes ablated alone), accuracy,
        circuit accuracy (all non-circuit nodes ablated at once), logit difference IO - S, and in
        next-token mode the next-token accuracy before the answer."""
        was_training = self.ll_model.training
        self.ll_model.eval()
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}

        def add(key: str, values: torch.Tensor) -> None:
            sums[key] = sums.get(key, 0.0) + values.float().sum().item()
            counts[key] = counts.get(key, 0.0) + values.numel()

        outside = self.corr.non_circuit_components
        everything = self.corr.all_components
        for start in range(0, len(base), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(base)))
            b, s = base[idx], source[idx]
            hl = self.hl_answer(b)
            cache = source_cache(self.ll_model, s.tokens, everything)
            logits = self.ll_logits(b)
            ll = at_answer(logits, b)
            add("accuracy", self.answer_correct(ll, hl))
            rows = torch.arange(len(b), device=ll.device)
            add("logit_diff", ll[rows, b.io] - ll[rows, b.s])
            if self.next_token:
                prefix = b.prefix_mask()
                add("next_token_accuracy", logits.argmax(-1)[prefix] == b.next_tokens[prefix])
            for node in self.corr.hl_nodes:
                add(f"iia/{node.label}", self.answer_correct(self.ll_intervened(b, s, node.components, cache),
                                                             self.hl_intervened(b, s, node)))
            for comp in outside:
                add(f"strict/{comp.name}", self.answer_correct(self.ll_intervened(b, s, [comp], cache), hl))
            add("circuit_accuracy", self.answer_correct(self.ll_intervened(b, s, outside, cache), hl))
        self.ll_model.train(was_training)
        rates = {k: sums[k] / max(counts[k], 1.0) for k in sums}
        iia = [v for k, v in rates.items() if k.startswith("iia/")]
        strict = [v for k, v in rates.items() if k.startswith("strict/")]
        return {
            "iia": float(np.mean(iia)) if iia else 1.0,
            "strict_accuracy": float(np.mean(strict)) if strict else 1.0,
            **rates,
        }
