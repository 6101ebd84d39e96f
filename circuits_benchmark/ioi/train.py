"""SIIT training of an LL transformer on the simplified IOI task, and its store (`{root}/ioi/...`).

Same recipe as `training.train` for Tracr cases: each step draws (base, source) prompt pairs (the
source is another clean prompt) and steps the optimiser on the IIT loss (a random HL node), the
strict loss (non-circuit nodes resample-ablated) and the behaviour loss separately. After each epoch
the held-out metrics are computed; training stops once IIA, strict accuracy and accuracy (for the
losses with weight > 0) reach `early_stop_threshold`, or at `max_seconds`.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.ioi.data import DEFAULT_VOCAB, SEQ_LEN, IOIBatch, IOIVocab, corrupt_abc, generate_prompts
from circuits_benchmark.ioi.hl_model import IOIHighLevel, ioi_correspondence, ioi_true_edges
from circuits_benchmark.ioi.pair import IOIPair, fast_mode
from circuits_benchmark.training.ll_model import build_ll_model
from circuits_benchmark.training.pair import STRICT_SAMPLING
from circuits_benchmark.training.store import DEFAULT_ROOT, StoredModel, load_ll_model, save_ll_model
from circuits_benchmark.training.trainer import interp_bench_run_name, seed_everything
from circuits_benchmark.utils.device import resolve_device

IOI_CASE = "ioi"
IOI_NEXT_TOKEN_CASE = "ioi_next_token"


@dataclass
class IOITrainConfig:
    """IOI training settings (saved in `meta_{run}.json`). LL default: 6 layers x 4 heads, d_model 64.

    The strict loss ablates a random subset of the non-circuit nodes per step by default: with one node
    per step (InterpBench's default) single ablations are harmless but ablating all of them at once
    breaks the model (circuit accuracy 4% vs 94% after 14 minutes of training on CPU).
    """

    next_token: bool = False
    include_mlp: bool = False
    heads_per_node: int = 2
    iit_weight: float = 1.0
    strict_weight: float = 0.4
    behavior_weight: float = 1.0
    strict_sampling: str = "random-subset"
    epochs: int = 500
    lr: float = 1e-3
    batch_size: int = 256
    n_train: int = 8000
    n_test: int = 500
    clip_grad_norm: Optional[float] = 1.0
    n_layers: int = 6
    n_heads: int = 4
    d_model: int = 64
    d_head: Optional[int] = None
    d_mlp: Optional[int] = None
    act_fn: str = "gelu"
    normalization_type: Optional[str] = "LN"
    seed: int = 0
    early_stop: bool = True
    early_stop_threshold: float = 0.99
    max_seconds: Optional[float] = None
    device: Optional[str] = None
    cpu_threads: Optional[int] = 1

    def __post_init__(self) -> None:
        if self.strict_sampling not in STRICT_SAMPLING:
            raise ValueError(f"strict sampling must be one of {STRICT_SAMPLING}, not {self.strict_sampling!r}")
        weights = (self.iit_weight, self.strict_weight, self.behavior_weight)
        if min(weights) < 0 or max(weights) == 0:
            raise ValueError("loss weights must be >= 0 with at least one > 0")

    @property
    def case_id(self) -> str:
        return IOI_NEXT_TOKEN_CASE if self.next_token else IOI_CASE

    def run_name(self) -> str:
        return interp_bench_run_name(self.iit_weight, self.strict_weight, self.behavior_weight)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IOITrainResult:
    config: IOITrainConfig
    pair: IOIPair
    history: list[dict[str, float]] = field(default_factory=list)
    epochs_run: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def ll_model(self) -> HookedTransformer:
        return self.pair.ll_model

    @property
    def final_metrics(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def make_ioi_ll_config(config: IOITrainConfig, vocab: IOIVocab = DEFAULT_VOCAB,
                       device: str | torch.device = "cpu") -> HookedTransformerConfig:
    return HookedTransformerConfig(
        n_layers=config.n_layers, d_model=config.d_model, n_heads=config.n_heads,
        d_head=config.d_head or max(1, config.d_model // config.n_heads), d_mlp=config.d_mlp or 4 * config.d_model,
        d_vocab=vocab.size, d_vocab_out=vocab.size, n_ctx=SEQ_LEN, act_fn=config.act_fn,
        normalization_type=config.normalization_type, attention_dir="causal", positional_embedding_type="standard",
        default_prepend_bos=False, seed=config.seed, device=str(device), dtype=torch.float32,
    )


def build_ioi_pair(config: IOITrainConfig, device: torch.device | str = "cpu",
                   ll_model: Optional[HookedTransformer] = None) -> IOIPair:
    """HL model, a fresh seeded LL model (unless given) and the correspondence for `config`."""
    if ll_model is None:
        ll_model = build_ll_model(make_ioi_ll_config(config, device=device), device)
    corr = ioi_correspondence(ll_model.cfg.n_layers, ll_model.cfg.n_heads, config.heads_per_node, config.include_mlp)
    return IOIPair(IOIHighLevel(), ll_model, corr, config.next_token, config.strict_sampling,
                   np.random.default_rng(config.seed))


def _stop(metrics: dict[str, float], config: IOITrainConfig) -> bool:
    checks = [metrics[k] for k, w in (("iia", config.iit_weight), ("strict_accuracy", config.strict_weight),
                                      ("accuracy", config.behavior_weight)) if w > 0]
    return all(v >= config.early_stop_threshold - 1e-9 for v in checks)


def train_ioi(
    config: Optional[IOITrainConfig] = None,
    ll_model: Optional[HookedTransformer] = None,
    progress: bool = True,
    on_epoch: Optional[Callable[[int, dict[str, float]], None]] = None,
) -> IOITrainResult:
    """Train an LL model on IOI with the SIIT losses of `config`."""
    config = config or IOITrainConfig()
    device = resolve_device(config.device)
    if device.type == "cpu" and config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    seed_everything(config.seed)
    pair = build_ioi_pair(config, device, ll_model)
    train_set = generate_prompts(config.n_train, config.seed).to(device)
    test_base = generate_prompts(config.n_test, config.seed + 7_777).to(device)
    test_source = test_base[torch.randperm(len(test_base), generator=torch.Generator().manual_seed(config.seed + 1))]
    ll = pair.ll_model
    optimizer = torch.optim.Adam(ll.parameters(), lr=config.lr)

    def step(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(ll.parameters(), config.clip_grad_norm)
        optimizer.step()

    result = IOITrainResult(config, pair)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(train_set)
    start = time.perf_counter()
    bar = None
    stack = ExitStack()
    stack.enter_context(fast_mode(ll))
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc=f"{config.case_id} [siit]", unit="epoch")
    try:
        for epoch in range(config.epochs):
            ll.train()
            base_perm, source_perm = torch.randperm(n, generator=gen), torch.randperm(n, generator=gen)
            sums = {"iit_loss": 0.0, "strict_loss": 0.0, "behavior_loss": 0.0}
            steps = 0
            for i in range(0, n, config.batch_size):
                base = train_set[base_perm[i : i + config.batch_size]]
                source = train_set[source_perm[i : i + config.batch_size]]
                if config.iit_weight > 0:
                    loss = config.iit_weight * pair.iit_loss(base, source)
                    sums["iit_loss"] += loss.item()
                    step(loss)
                if config.strict_weight > 0 and pair.corr.non_circuit_components:
                    loss = config.strict_weight * pair.strict_loss(base, source)
                    sums["strict_loss"] += loss.item()
                    step(loss)
                if config.behavior_weight > 0:
                    loss = config.behavior_weight * pair.behavior_loss(base)
                    sums["behavior_loss"] += loss.item()
                    step(loss)
                steps += 1
            metrics = {k: v / max(steps, 1) for k, v in sums.items()}
            metrics.update(pair.evaluate(test_base, test_source))
            metrics["epoch"] = epoch + 1
            metrics["seconds"] = time.perf_counter() - start
            result.history.append(metrics)
            result.epochs_run = epoch + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(iia=f"{metrics['iia']:.3f}", strict=f"{metrics['strict_accuracy']:.3f}",
                                acc=f"{metrics['accuracy']:.3f}")
            if on_epoch is not None:
                on_epoch(epoch + 1, metrics)
            if config.early_stop and _stop(metrics, config):
                result.stopped_early = True
                break
            if config.max_seconds is not None and metrics["seconds"] >= config.max_seconds:
                break
    finally:
        stack.close()
        if bar is not None:
            bar.close()
    ll.eval()
    result.seconds = time.perf_counter() - start
    return result


def save_ioi_result(result: IOITrainResult, root: str | Path = DEFAULT_ROOT, run: Optional[str] = None) -> Path:
    """Store in the InterpBench layout: `{root}/ioi[_next_token]/ll_model_{run}.pth` + cfg, meta, edges."""
    config = result.config
    run = run or config.run_name()
    meta = {
        "case": config.case_id,
        "run": run,
        "training_args": config.to_dict(),
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 2),
        "stopped_early": result.stopped_early,
        "final_metrics": {k: v for k, v in result.final_metrics.items() if "/" not in k},
        "hl_nodes": {n.label: [c.name for c in n.components] for n in result.pair.corr.hl_nodes},
        "vocab": list(result.pair.hl_model.vocab.words),
        "seq_len": SEQ_LEN,
    }
    return save_ll_model(result.ll_model, config.case_id, run, root, meta, ioi_true_edges(result.pair.corr))


def config_from_meta(meta: dict[str, Any]) -> IOITrainConfig:
    """The training config saved with a stored IOI model."""
    known = set(IOITrainConfig.__dataclass_fields__)
    return IOITrainConfig(**{k: v for k, v in meta.get("training_args", {}).items() if k in known})


def load_ioi_model(run: str = "510", root: str | Path = DEFAULT_ROOT, next_token: bool = False,
                   device: Optional[str | torch.device] = None) -> StoredModel:
    """A stored IOI model (same as `load_ll_model("ioi", run, root)`)."""
    return load_ll_model(IOI_NEXT_TOKEN_CASE if next_token else IOI_CASE, run, root, device)


def evaluate_ioi_model(ll_model: HookedTransformer, config: Optional[IOITrainConfig] = None, n: int = 1000,
                       seed: int = 12_345) -> dict[str, float]:
    """IIA, strict accuracy, accuracy and circuit accuracy of `ll_model` on fresh IOI prompt pairs."""
    config = config or IOITrainConfig()
    pair = build_ioi_pair(config, next(ll_model.parameters()).device, ll_model)
    device = next(ll_model.parameters()).device
    base = generate_prompts(n, seed).to(device)
    source = base[torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))]
    with fast_mode(ll_model):
        return pair.evaluate(base, source)


def ioi_task(model: HookedTransformer, n: int = 64, seed: int = 0):
    """A `PatchingTask` on IOI: clean prompts vs their ABC-corrupted counterparts, scored at the answer position."""
    from circuits_benchmark.tasks import PatchingTask

    device = next(model.parameters()).device
    clean = generate_prompts(n, seed)
    corrupted = corrupt_abc(clean, seed + 1)
    return PatchingTask(model=model, clean_tokens=clean.tokens.to(device), corrupted_tokens=corrupted.tokens.to(device),
                        positions=clean.answer_mask().to(device), is_categorical=True, name="ioi")
