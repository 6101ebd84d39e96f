"""A high-level / low-level model pair: interventions, the three losses and the evaluation metrics.

Interventions use TransformerLens hooks. Intervening on a set of components replaces their
outputs (a head's `blocks.L.attn.hook_z[:, :, h]`, the same as its `hook_result`; `blocks.L.hook_mlp_out`)
in a run on the base input with their values from a run on the source input (resample ablation / interchange). Values
from the source run are detached by default: gradients flow only through the base run, as in the iit
library (`strict_source_grads` and `iit_source_grads` let them flow through the source run too).

Outputs are compared at every real position after BOS where the HL output is defined (BOS, padding
and categorical positions whose RASP value is None are ignored): cross-entropy
against the HL argmax for categorical cases, MSE against the HL value for numerical ones.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformer_lens import HookedTransformer

from circuits_benchmark.metrics import outputs_match
from circuits_benchmark.tracr_compat.alignment import Component
from circuits_benchmark.tracr_compat.encoding import TracrEncoding
from circuits_benchmark.training.correspondence import Correspondence, HLNode, group_by_hook
from circuits_benchmark.utils.softmax import fast_attention_softmax, log_softmax

STRICT_SAMPLING = ("one", "all", "random-subset", "one+all")
UNDEFINED_BELOW = 0.1
"""Default of `ModelPair.undefined_below`; pairs of a compiled case use `CompiledCase.undefined_below`."""


def patch_site(c: Component) -> str:
    """The hook patched for a component: a head's `hook_z` (the same effect as patching its `hook_result`,
    without materialising per-head results), an MLP's `hook_mlp_out`."""
    if c.kind == "head":
        return f"blocks.{c.layer}.attn.hook_z"
    if c.kind == "mlp":
        return c.hook_name
    raise ValueError(f"cannot intervene on component {c.name} (only heads and MLPs)")


@contextmanager
def fast_mode(model: HookedTransformer) -> Iterator[HookedTransformer]:
    """Turn off per-head results and split q/k/v inputs while training (several times faster; only the
    patching engine of the discovery methods needs them), and use the short-row softmax in attention
    (`utils.softmax`; torch's kernel was profiled as a quarter of a training step on CPU).
    Restores the model's settings and the module on exit."""
    saved = (model.cfg.use_attn_result, model.cfg.use_split_qkv_input)
    model.cfg.use_attn_result = model.cfg.use_split_qkv_input = False
    try:
        with fast_attention_softmax():
            yield model
    finally:
        model.cfg.use_attn_result, model.cfg.use_split_qkv_input = saved


def patch_hooks(
    components: Sequence[Component], source_cache: dict[str, torch.Tensor],
    site: Callable[[Component], str] = patch_site,
) -> list[tuple[str, Callable]]:
    """Forward hooks that write the source-run values of `components` into the current run, at `site`."""
    hooks = []
    for hook_name, heads in group_by_hook(components, site).items():
        source = source_cache[hook_name]

        def hook(act: torch.Tensor, hook, source=source, heads=heads) -> torch.Tensor:
            if heads is None:
                return source
            act = act.clone()
            act[:, :, heads] = source[:, :, heads]
            return act

        hooks.append((hook_name, hook))
    return hooks


def _mode(model: HookedTransformer, site: Callable[[Component], str]):
    return fast_mode(model) if site is patch_site else nullcontext(model)


def source_cache(
    model: HookedTransformer, tokens: torch.Tensor, components: Sequence[Component],
    mask: Optional[torch.Tensor] = None, site: Callable[[Component], str] = patch_site, grad: bool = False,
) -> dict[str, torch.Tensor]:
    """Activations at the patch sites of `components` on `tokens`: detached, or with `grad` differentiable
    (the source run then takes part in the backward pass)."""
    names = set(group_by_hook(components, site))
    cache: dict[str, torch.Tensor] = {}

    def save(act: torch.Tensor, hook) -> None:
        cache[hook.name] = act if grad else act.detach()

    last = max(c.layer for c in components)  # the run stops after the last layer it caches from
    with _mode(model, site), torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        model.run_with_hooks(tokens, attention_mask=mask, stop_at_layer=last + 1,
                             fwd_hooks=[(n, save) for n in names])
    return cache


def strict_source_cache(model: HookedTransformer, tokens: torch.Tensor, groups: Sequence[Sequence[Component]],
                        mask: Optional[torch.Tensor] = None, grad: bool = False) -> dict[str, torch.Tensor]:
    """One source run caching every component the strict loss's `groups` ablate ({} when there is none);
    with `grad`, differentiable (see `ModelPair.strict_source_grads`)."""
    ablated = sorted({c for g in groups for c in g})
    return source_cache(model, tokens, ablated, mask, grad=grad) if ablated else {}


def clean_run(model: HookedTransformer, tokens: torch.Tensor,
              mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Logits of `model` on `tokens` (in `fast_mode`) and the residual stream before each layer after
    the first: what `run_patched`'s `base_resid` starts a patched run from."""
    resid: dict[int, torch.Tensor] = {}

    def save(act: torch.Tensor, hook) -> None:
        resid[int(hook.name.split(".")[1])] = act

    hooks = [(f"blocks.{layer}.hook_resid_pre", save) for layer in range(1, model.cfg.n_layers)]
    with fast_mode(model):
        return model.run_with_hooks(tokens, attention_mask=mask, fwd_hooks=hooks), resid


def run_patched(
    model: HookedTransformer,
    base: torch.Tensor,
    source: torch.Tensor,
    components: Sequence[Component],
    base_mask: Optional[torch.Tensor] = None,
    source_mask: Optional[torch.Tensor] = None,
    cache: Optional[dict[str, torch.Tensor]] = None,
    site: Callable[[Component], str] = patch_site,
    base_resid: Optional[dict[int, torch.Tensor]] = None,
) -> torch.Tensor:
    """Logits of `model` on `base` with `components` taking their values from the run on `source`
    (or from a precomputed `cache` of `source_cache`). Patching at the default sites runs in `fast_mode`.
    `base_resid` ({layer: the base run's residual stream before that layer}) lets the run start at the
    first patched layer instead of recomputing the layers before it."""
    with _mode(model, site):
        if not components:
            return model(base, attention_mask=base_mask)
        cache = cache if cache is not None else source_cache(model, source, components, source_mask, site)
        hooks = patch_hooks(components, cache, site)
        first = min(c.layer for c in components)
        if base_resid is not None and first in base_resid:
            return model.run_with_hooks(base_resid[first], start_at_layer=first, attention_mask=base_mask,
                                        fwd_hooks=hooks)
        return model.run_with_hooks(base, attention_mask=base_mask, fwd_hooks=hooks)


@dataclass
class ModelPair:
    """The HL model (compiled Tracr model), the LL model being trained, and their correspondence.

    Attributes:
        hl_model: the Tracr-equivalent HookedTransformer (never trained).
        ll_model: the model trained to implement the HL model's circuit.
        encoding: the case's token encoding (BOS / PAD ids).
        corr: HL node -> LL components.
        categorical: categorical (cross-entropy, argmax) or numerical (MSE, atol) outputs.
        atol: tolerance for a numerical output to count as correct.
        strict_sampling: which non-circuit nodes the strict loss ablates per step:
            "one" (one at random, the default), "all", "random-subset" (each with probability 1/2), or
            "one+all" (one at random and, in a second run, all of them; the loss is the mean of both).
    """

    hl_model: HookedTransformer
    ll_model: HookedTransformer
    encoding: TracrEncoding
    corr: Correspondence
    categorical: bool
    atol: float = 0.05
    strict_sampling: str = "one"
    rng: Optional[np.random.Generator] = None
    strict_source_grads: bool = False
    """The strict loss also back-propagates through the source run of the ablated nodes (default: detached,
    as in the iit library): the nodes outside the circuit then learn directly to carry nothing the output needs."""
    iit_source_grads: bool = False
    """The IIT loss also back-propagates through the source run of the intervened node (default: detached, as
    in the iit library): the node's own weights then learn from its interventions, not only the layers after it."""
    undefined_below: float = UNDEFINED_BELOW
    """A categorical HL output whose largest logit is below this is a RASP None (see `defined`)."""
    hl_node_weights: Optional[np.ndarray] = None
    """Probabilities of the HL nodes the IIT loss samples (None: uniform; see `TrainConfig.iit_sampling`)."""

    def __post_init__(self) -> None:
        if self.strict_sampling not in STRICT_SAMPLING:
            raise ValueError(f"strict sampling must be one of {STRICT_SAMPLING}, not {self.strict_sampling!r}")
        if self.rng is None:
            self.rng = np.random.default_rng(0)
        self._hl_memo: Optional[tuple] = None  # (base, its version, logits, resid_pre): `hl_output`
        self._eval_memo: Optional[tuple] = None  # (base, source, (versions, batch size), targets): `hl_targets`
        for p in self.hl_model.parameters():
            p.requires_grad_(False)

    # ------------------------------------------------------------------ helpers
    def mask(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoding.attention_mask(tokens)

    def positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Boolean [batch, pos]: real positions after BOS (the ones losses and metrics look at)."""
        real = tokens != self.encoding.pad_id
        real[:, 0] = False
        return real

    def defined(self, hl_logits: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """`positions` where the HL output is defined.

        Where the RASP value is None, Tracr's categorical output is (near) zero in every direction, so
        its argmax is floating-point noise: those positions are left out of losses and metrics.
        """
        if not self.categorical:
            return positions
        return positions & (hl_logits.max(dim=-1).values > self.undefined_below)

    def target(self, hl_logits: torch.Tensor) -> torch.Tensor:
        """HL output as a training target: argmax ids (categorical) or the value (numerical)."""
        return hl_logits.argmax(dim=-1) if self.categorical else hl_logits[..., 0]

    def loss(self, ll_logits: torch.Tensor, hl_logits: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        positions = self.defined(hl_logits, positions)
        if not positions.any():
            return ll_logits.sum() * 0.0
        target = self.target(hl_logits)[positions]
        if self.categorical:
            return F.nll_loss(log_softmax(ll_logits[positions], -1), target)  # cross-entropy; short-row log-softmax
        return F.mse_loss(ll_logits[..., 0][positions], target)

    def matches(self, ll_logits: torch.Tensor, hl_logits: torch.Tensor) -> torch.Tensor:
        """Boolean [batch, pos] at every position (`metrics.outputs_match` with this pair's kind and `atol`)."""
        return outputs_match(ll_logits, hl_logits, self.categorical, self.atol)

    def correct(self, ll_logits: torch.Tensor, hl_logits: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Boolean per compared position: the LL output matches the HL output."""
        return self.matches(ll_logits, hl_logits)[self.defined(hl_logits, positions)]

    # ------------------------------------------------------------ forward runs
    @torch.no_grad()
    def hl_output(self, base: torch.Tensor) -> torch.Tensor:
        """HL logits on `base`. The last call's result is reused for the same tensor object (a training
        step's IIT, strict and behaviour losses share their base batch; on wide Tracr models an HL forward
        costs as much as an LL one)."""
        return self._hl_clean_run(base)[0]

    def _hl_clean_run(self, base: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """HL logits on `base` and the residual stream before each layer (memoised as `hl_output` says)."""
        memo = self._hl_memo
        if memo is not None and memo[0] is base and memo[1] == base._version:
            return memo[2], memo[3]
        with torch.no_grad():
            out, resid = clean_run(self.hl_model, base, self.mask(base))
        self._hl_memo = (base, base._version, out, resid)
        return out, resid

    @torch.no_grad()
    def hl_intervened(self, base: torch.Tensor, source: torch.Tensor, node: HLNode,
                      cache: Optional[dict[str, torch.Tensor]] = None) -> torch.Tensor:
        """HL output on `base` with `node`'s components set to their values on `source` (or from `cache`).
        The patched run starts at the node's layer from the clean base run (`hl_output`'s, which the
        strict and behaviour losses of the same step use too)."""
        resid = self._hl_clean_run(base)[1] if min(c.layer for c in node.hl_site) > 0 else None
        return run_patched(self.hl_model, base, source, node.hl_site, self.mask(base), self.mask(source), cache,
                           base_resid=resid)

    def ll_output(self, base: torch.Tensor) -> torch.Tensor:
        with fast_mode(self.ll_model):
            return self.ll_model(base, attention_mask=self.mask(base))

    def ll_intervened(self, base: torch.Tensor, source: torch.Tensor, components: Sequence[Component],
                      cache: Optional[dict[str, torch.Tensor]] = None,
                      base_resid: Optional[dict[int, torch.Tensor]] = None) -> torch.Tensor:
        """LL output on `base` with `components` set to their values on `source` (or from `cache`, a
        `source_cache` of the LL model on `source`); differentiable in the base run (from the first
        patched layer on if `base_resid`, a `clean_run`'s residuals, is given)."""
        return run_patched(self.ll_model, base, source, list(components), self.mask(base), self.mask(source), cache,
                           base_resid=base_resid)

    def source_caches(self, source: torch.Tensor, ll_components: Sequence[Component],
                      hl: bool = False) -> tuple[dict[str, torch.Tensor], Optional[dict[str, torch.Tensor]]]:
        """One run of each model on `source` caching what interventions on `ll_components` (and, with
        `hl`, on every HL node) need, so several interventions share it."""
        mask = self.mask(source)
        ll_cache = source_cache(self.ll_model, source, list(ll_components), mask) if ll_components else {}
        hl_sites = sorted({c for n in self.corr.hl_nodes for c in n.hl_site})
        hl_cache = source_cache(self.hl_model, source, hl_sites, mask) if hl else None
        return ll_cache, hl_cache

    # ------------------------------------------------------------------ losses
    def sample_hl_node(self) -> HLNode:
        return self.corr.sample_hl_node(self.rng, self.hl_node_weights)

    def sample_strict_groups(self) -> list[list[Component]]:
        return self.corr.sample_strict_groups(self.rng, self.strict_sampling)

    def iit_loss(self, base: torch.Tensor, source: torch.Tensor, node: Optional[HLNode] = None) -> torch.Tensor:
        """Interchange-intervention loss on one HL node (random if not given)."""
        node = node or self.sample_hl_node()
        hl = self.hl_intervened(base, source, node)
        cache = source_cache(self.ll_model, source, list(node.components), self.mask(source),
                             grad=self.iit_source_grads)
        ll = self.ll_intervened(base, source, node.components, cache)
        return self.loss(ll, hl, self.positions(base))

    def strict_loss(
        self, base: torch.Tensor, source: torch.Tensor, nodes: Optional[Sequence[Component]] = None
    ) -> torch.Tensor:
        """SIIT loss: with non-circuit nodes resample-ablated, the LL output must still be the HL output on base.

        `nodes` ablates those together; by default the groups of `strict_sampling` (mean over groups).
        """
        groups = self.sample_strict_groups() if nodes is None else [list(nodes)]
        hl = self.hl_output(base)
        cache = strict_source_cache(self.ll_model, source, groups, self.mask(source), self.strict_source_grads)
        losses = [self.loss(self.ll_intervened(base, source, g, cache), hl, self.positions(base)) for g in groups]
        return torch.stack(losses).mean()

    def behavior_loss(self, base: torch.Tensor) -> torch.Tensor:
        """LL output vs HL output on the base input."""
        return self.loss(self.ll_output(base), self.hl_output(base), self.positions(base))

    # ----------------------------------------------------------------- metrics
    @torch.no_grad()
    def hl_targets(self, base: torch.Tensor, source: torch.Tensor,
                   batch_size: int) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        """Per batch of `batch_size` pairs: the HL output on base and, for each HL node in order, the HL
        output with that node interchanged from source. The HL model never trains, so for the same
        tensors (a fit's test pairs, evaluated every epoch) the last call's targets are reused: on wide
        Tracr models these HL runs were most of an epoch's evaluation."""
        key = (base._version, source._version, batch_size)
        memo = self._eval_memo
        if memo is not None and memo[0] is base and memo[1] is source and memo[2] == key:
            return memo[3]
        targets = []
        for start in range(0, base.shape[0], batch_size):
            b, s = base[start : start + batch_size], source[start : start + batch_size]
            _, hl_cache = self.source_caches(s, [], hl=True)
            targets.append((self.hl_output(b), [self.hl_intervened(b, s, node, hl_cache) for node in self.corr.hl_nodes]))
        self._eval_memo = (base, source, key, targets)
        return targets

    @torch.no_grad()
    def evaluate(self, base: torch.Tensor, source: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
        """IIA, strict accuracy, accuracy and the accuracy with everything outside the circuit ablated.

        - `iia`: share of compared positions where the intervened LL output matches the intervened HL
          output, averaged over HL nodes.
        - `strict_accuracy`: share of positions whose LL output still equals the HL output on base when
          one non-circuit node is resample-ablated, averaged over non-circuit nodes (1 if there are none).
        - `accuracy`: LL output vs HL output on base.
        - `circuit_accuracy`: accuracy when all non-circuit nodes are resample-ablated at once.
        """
        was_training = self.ll_model.training
        self.ll_model.eval()
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}

        def add(key: str, correct: torch.Tensor) -> None:
            sums[key] = sums.get(key, 0.0) + correct.float().sum().item()
            counts[key] = counts.get(key, 0.0) + correct.numel()

        for start, (hl_base, hl_nodes) in zip(range(0, base.shape[0], batch_size),
                                              self.hl_targets(base, source, batch_size)):
            b, s = base[start : start + batch_size], source[start : start + batch_size]
            pos = self.positions(b)
            ll_cache, _ = self.source_caches(s, self.corr.all_components)
            ll_base, resid = clean_run(self.ll_model, b, self.mask(b))  # patched runs start from its layers

            def ll(components: Sequence[Component]) -> torch.Tensor:
                return self.ll_intervened(b, s, components, ll_cache, resid)

            add("accuracy", self.correct(ll_base, hl_base, pos))
            for node, hl_node in zip(self.corr.hl_nodes, hl_nodes):
                add(f"iia/{node.label}", self.correct(ll(node.components), hl_node, pos))
            outside = self.corr.non_circuit_components
            for comp in outside:
                add(f"strict/{comp.name}", self.correct(ll([comp]), hl_base, pos))
            add("circuit_accuracy", self.correct(ll(outside), hl_base, pos))
        self.ll_model.train(was_training)

        rates = {k: sums[k] / max(counts[k], 1.0) for k in sums}
        iia = [v for k, v in rates.items() if k.startswith("iia/")]
        strict = [v for k, v in rates.items() if k.startswith("strict/")]
        return {
            "iia": float(np.mean(iia)) if iia else 1.0,
            "strict_accuracy": float(np.mean(strict)) if strict else 1.0,
            "accuracy": rates["accuracy"],
            "circuit_accuracy": rates["circuit_accuracy"],
            **{k: v for k, v in rates.items() if "/" in k},
        }
