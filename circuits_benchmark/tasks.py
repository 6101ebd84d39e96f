"""A patching task: the model, clean and corrupted batches and the metric a method optimises.

Every discovery method and evaluation takes a `PatchingTask`, whatever the model is (a
Tracr-compiled model, a trained SIIT model or any HookedTransformer with its own batches).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import torch
from transformer_lens import HookedTransformer

from circuits_benchmark import metrics
from circuits_benchmark.graph import ComputationalGraph, PatchSource, prepare_model
from circuits_benchmark.utils.softmax import fast_attention_softmax

if TYPE_CHECKING:
    from circuits_benchmark.cases.compiled import CompiledCase

Tensor = torch.Tensor


SAME_OUTPUT_ATOL = 1e-5


class UninformativeTaskWarning(UserWarning):
    """Clean and corrupted inputs give the same outputs: patching cannot reveal any edge."""


@dataclass
class PatchingTask:
    """Inputs, reference outputs and metrics for patching experiments on one model.

    Attributes:
        model: the model studied (prepared for the patching engine).
        clean_tokens, corrupted_tokens: `[batch, pos]` token ids.
        clean_mask, corrupted_mask: `[batch, pos]` attention masks (1 = real token) or None.
        positions: `[batch, pos]` bool, the positions whose outputs count.
        is_categorical: categorical outputs (KL default) or numerical (L2 default).
        name: label for logs and result files.
    """

    model: HookedTransformer
    clean_tokens: Tensor
    corrupted_tokens: Tensor
    positions: Tensor
    is_categorical: bool
    clean_mask: Optional[Tensor] = None
    corrupted_mask: Optional[Tensor] = None
    name: str = "task"

    def __post_init__(self) -> None:
        prepare_model(self.model)
        if self.clean_tokens.shape != self.corrupted_tokens.shape:
            raise ValueError(
                f"clean {tuple(self.clean_tokens.shape)} and corrupted {tuple(self.corrupted_tokens.shape)} "
                "token batches must have the same shape"
            )
        if self.positions.shape != self.clean_tokens.shape:
            raise ValueError(f"positions mask {tuple(self.positions.shape)} does not match tokens {tuple(self.clean_tokens.shape)}")
        with torch.no_grad():
            self.clean_logits = self.run(self.clean_tokens, self.clean_mask)
            self.corrupted_logits = self.run(self.corrupted_tokens, self.corrupted_mask)
        if self.positions.any() and self.same_answers():
            warnings.warn(
                f"task {self.name}: the corrupted inputs get the same answers as the clean ones at every compared "
                "position, so patching from them can change no answer (only its confidence; a saturated model "
                "scores every edge 0 and AUROC is 0.5 by construction)", UninformativeTaskWarning, stacklevel=2)

    def same_answers(self) -> bool:
        """Whether the model answers the corrupted inputs as the clean ones at every compared position
        (categorical: the same argmax; numerical: within SAME_OUTPUT_ATOL)."""
        positions = self.positions.to(self.clean_logits.device)
        if self.is_categorical:
            return bool((self.clean_logits.argmax(-1) == self.corrupted_logits.argmax(-1))[positions].all())
        return float((self.clean_logits - self.corrupted_logits)[positions].abs().max()) <= SAME_OUTPUT_ATOL

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def default_metric(self) -> str:
        return "kl" if self.is_categorical else "l2"

    def graph(self) -> ComputationalGraph:
        return ComputationalGraph.from_model(self.model)

    def run(self, tokens: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
        with fast_attention_softmax():  # as in the patched runs, whose full circuit must equal this run
            return self.model(tokens, **kwargs)

    def source(self, ablation: str = "patching") -> PatchSource:
        """Where ablated edges take their values: `patching` (corrupted run), `mean` or `zero`."""
        if ablation == "patching":
            return PatchSource.corrupted(self.corrupted_tokens, self.corrupted_mask)
        if ablation == "mean":
            return PatchSource.mean(self.corrupted_tokens, self.corrupted_mask)
        if ablation == "zero":
            return PatchSource.zero()
        raise ValueError(f"unknown ablation {ablation!r}; use patching, mean, zero (or optimal via a method)")

    def metric(self, logits: Tensor, name: Optional[str] = None) -> Tensor:
        """The metric of patched `logits` (`[..., batch, pos, vocab]`) relative to the clean model.

        kl / l2: divergence from the clean model's outputs (0 = unchanged; lower is better).
        logit_diff / prob_diff: logit (probability) of the clean answer minus the corrupted answer.
        accuracy: share of positions where the clean model's answer is kept.
        """
        name = name or self.default_metric
        ref, pos = self.clean_logits, self.positions
        if name == "kl":
            self._need_categorical(name)
            return metrics.kl_divergence(ref, logits, pos)
        if name == "l2":
            return metrics.l2_distance(ref, logits, pos)
        if name in ("logit_diff", "prob_diff"):
            self._need_categorical(name)
            fn = metrics.logit_difference if name == "logit_diff" else metrics.probability_difference
            return fn(logits, pos, ref.argmax(-1), self.corrupted_logits.argmax(-1))
        if name == "accuracy":
            if self.is_categorical:
                return metrics.accuracy(logits, pos, ref.argmax(-1))
            return metrics.numerical_accuracy(logits, pos, ref[..., 0])
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(metrics.METRICS)}")

    def _need_categorical(self, name: str) -> None:
        if not self.is_categorical:
            raise ValueError(f"metric {name!r} needs categorical outputs; this task is numerical (use l2)")


def task_from_case(
    compiled: "CompiledCase",
    n_examples: int = 32,
    seed: int = 0,
    model: Optional[HookedTransformer] = None,
) -> PatchingTask:
    """A task on a benchmark case: its Tracr model (or `model`, e.g. a trained SIIT model) on case data."""
    case, encoding = compiled.case, compiled.encoding
    data = case.dataset(n_examples, seed)
    device = next((model or compiled.model).parameters()).device
    clean = encoding.encode(data.clean_inputs, device=device)
    corrupted = encoding.encode(data.corrupted_inputs, device=device)
    clean_mask, corrupted_mask = encoding.attention_mask(clean), encoding.attention_mask(corrupted)
    positions = (clean_mask * corrupted_mask).bool()
    positions[:, 0] = False  # BOS
    return PatchingTask(
        model=model or compiled.model,
        clean_tokens=clean,
        corrupted_tokens=corrupted,
        positions=positions,
        is_categorical=case.is_categorical,
        clean_mask=clean_mask,
        corrupted_mask=corrupted_mask,
        name=f"case_{case.case_id}",
    )
