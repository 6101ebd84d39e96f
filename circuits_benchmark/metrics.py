"""Output metrics shared by discovery methods and evaluations.

All take logits `[..., batch, pos, d_vocab_out]` and a boolean `positions` mask `[batch, pos]`
marking the positions that count (real tokens: not BOS, not padding), and return one value per
leading index (a scalar for plain logits). Lower is closer for divergences.
"""

from __future__ import annotations

from typing import Callable

import torch

from circuits_benchmark.utils.softmax import log_softmax, softmax

Tensor = torch.Tensor
METRICS = ("kl", "l2", "logit_diff", "prob_diff", "accuracy")


def _masked_mean(values: Tensor, positions: Tensor) -> Tensor:
    """Mean of `values [..., batch, pos]` over the counted positions."""
    weights = positions.to(values.dtype)
    return (values * weights).sum(dim=(-2, -1)) / weights.sum().clamp(min=1)


def kl_divergence(reference: Tensor, logits: Tensor, positions: Tensor) -> Tensor:
    """KL(reference || model) over the output vocabulary, summed over classes, averaged over positions."""
    ref_logp = log_softmax(reference, -1)
    kl = (ref_logp.exp() * (ref_logp - log_softmax(logits, -1))).sum(-1)
    return _masked_mean(kl, positions)


def l2_distance(reference: Tensor, logits: Tensor, positions: Tensor) -> Tensor:
    """Mean squared difference of the outputs (numerical tasks: the single output dimension)."""
    return _masked_mean(((logits - reference) ** 2).sum(-1), positions)


def logit_difference(logits: Tensor, positions: Tensor, correct: Tensor, incorrect: Tensor) -> Tensor:
    """logit[correct] - logit[incorrect] (MIB's metric; `correct`/`incorrect` are `[batch, pos]` ids)."""
    diff = logits.gather(-1, _expand(correct, logits)) - logits.gather(-1, _expand(incorrect, logits))
    return _masked_mean(diff.squeeze(-1), positions)


def probability_difference(logits: Tensor, positions: Tensor, correct: Tensor, incorrect: Tensor) -> Tensor:
    probs = softmax(logits, -1)
    diff = probs.gather(-1, _expand(correct, probs)) - probs.gather(-1, _expand(incorrect, probs))
    return _masked_mean(diff.squeeze(-1), positions)


def accuracy(logits: Tensor, positions: Tensor, labels: Tensor) -> Tensor:
    """Share of counted positions whose argmax equals `labels`."""
    return _masked_mean((logits.argmax(-1) == labels).to(logits.dtype), positions)


def numerical_accuracy(outputs: Tensor, positions: Tensor, targets: Tensor, atol: float = 0.05) -> Tensor:
    """Share of counted positions within `atol` of the target value."""
    return _masked_mean(((outputs[..., 0] - targets).abs() <= atol).to(outputs.dtype), positions)


def outputs_match(logits: Tensor, reference: Tensor, categorical: bool, atol: float = 0.05) -> Tensor:
    """Bool `[batch, pos]`: the output is the reference's (categorical: same argmax; numerical: the
    first output within `atol`). The one comparison behind IIA, accuracy and circuit scores."""
    if categorical:
        return logits.argmax(-1) == reference.argmax(-1)
    return (logits[..., 0] - reference[..., 0]).abs() < atol


def _expand(ids: Tensor, like: Tensor) -> Tensor:
    return ids.unsqueeze(-1).expand(*like.shape[:-1], 1)


MetricFn = Callable[[Tensor], Tensor]
