"""SIIT / IIT / behaviour training of an LL model against a case's compiled Tracr model.

Each step draws a batch of (base, source) pairs and, as in InterpBench's strict model pair, steps
the optimiser on each weighted loss separately (IIT on a random HL node, strict on non-circuit
nodes, behaviour), unless `single_loss` sums them into one step. After each epoch the held-out
metrics are computed; training stops early once every metric that has a loss with weight > 0
(IIA for IIT, strict accuracy for strict, accuracy for behaviour) reaches `early_stop_threshold`.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from transformer_lens import HookedTransformer

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.base import TracrCase
from circuits_benchmark.cases.compiled import CompiledCase, compile_case
from circuits_benchmark.training.correspondence import Correspondence
from circuits_benchmark.training.ll_model import build_ll_model, make_ll_config
from circuits_benchmark.training.pair import STRICT_SAMPLING, ModelPair
from circuits_benchmark.training.store import DEFAULT_ROOT, save_ll_model
from circuits_benchmark.utils.device import resolve_device

MODEL_PAIRS = ("strict", "iit", "behavior")


@dataclass
class TrainConfig:
    """Training settings (saved as the run's `meta_{run}.json`).

    `model_pair`: "strict" (SIIT: IIT + strict + behaviour losses), "iit" (no strict loss) or
    "behavior" (behaviour loss only); the weights of losses a pair does not use count as 0.
    """

    model_pair: str = "strict"
    iit_weight: float = 1.0
    strict_weight: float = 0.4
    behavior_weight: float = 1.0
    strict_sampling: str = "one"
    single_loss: bool = False
    epochs: int = 500
    lr: float = 1e-3
    batch_size: int = 256
    n_train: int = 8000
    n_test: int = 1000
    clip_grad_norm: Optional[float] = 1.0
    d_model: Optional[int] = None
    d_head: Optional[int] = None
    d_mlp: Optional[int] = None
    n_heads: Optional[int] = None
    act_fn: str = "gelu"
    atol: float = 0.05
    seed: int = 0
    early_stop: bool = True
    early_stop_threshold: float = 1.0
    max_seconds: Optional[float] = None
    device: Optional[str] = None
    cpu_threads: Optional[int] = 1
    wandb: bool = False
    wandb_mode: str = "offline"
    wandb_project: str = "circuits-benchmark-siit"

    def __post_init__(self) -> None:
        if self.model_pair not in MODEL_PAIRS:
            raise ValueError(f"--model-pair must be one of {MODEL_PAIRS}, not {self.model_pair!r}")
        if self.strict_sampling not in STRICT_SAMPLING:
            raise ValueError(f"strict sampling must be one of {STRICT_SAMPLING}, not {self.strict_sampling!r}")
        if self.wandb_mode not in ("offline", "disabled"):
            raise ValueError("wandb only runs offline here: wandb_mode must be 'offline' or 'disabled'")
        if min(self.iit_weight, self.strict_weight, self.behavior_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if self.effective_weights() == (0.0, 0.0, 0.0):
            raise ValueError("at least one loss weight must be > 0")

    def effective_weights(self) -> tuple[float, float, float]:
        """(iit, strict, behaviour) weights after applying the model pair."""
        if self.model_pair == "behavior":
            return 0.0, 0.0, float(self.behavior_weight or 1.0)
        if self.model_pair == "iit":
            return float(self.iit_weight), 0.0, float(self.behavior_weight)
        return float(self.iit_weight), float(self.strict_weight), float(self.behavior_weight)

    def run_name(self) -> str:
        return interp_bench_run_name(*self.effective_weights())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interp_bench_run_name(iit: float, strict: float, behavior: float) -> str:
    """InterpBench's run id: int(10 * iit + 100 * behaviour + 1000 * strict), e.g. 510 for 1 / 0.4 / 1."""
    return str(int(round(10 * iit + 100 * behavior + 1000 * strict)))


@dataclass
class TrainResult:
    case_id: str
    config: TrainConfig
    pair: ModelPair
    compiled: CompiledCase
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_pair(
    compiled: CompiledCase, config: TrainConfig, device: torch.device, ll_model: Optional[HookedTransformer] = None
) -> ModelPair:
    """The model pair for a compiled case: a fresh seeded LL model unless one is given."""
    hl_cfg = compiled.model.cfg
    if ll_model is None:
        ll_cfg = make_ll_config(
            hl_cfg, config.d_model, config.d_head, config.d_mlp, config.n_heads, config.act_fn,
            seed=config.seed, device=device,
        )
        ll_model = build_ll_model(ll_cfg, device)
    corr = Correspondence.from_alignment(compiled.alignment, ll_model.cfg.n_layers, ll_model.cfg.n_heads)
    return ModelPair(
        compiled.model, ll_model, compiled.encoding, corr, compiled.case.is_categorical,
        atol=config.atol, strict_sampling=config.strict_sampling, rng=np.random.default_rng(config.seed),
    )


def make_data(compiled: CompiledCase, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded (base, source) tokens: the case's clean and corrupted inputs."""
    data = compiled.case.dataset(n, seed)
    return compiled.tokens(data.clean_inputs), compiled.tokens(data.corrupted_inputs)


def _stop(metrics: dict[str, float], config: TrainConfig) -> bool:
    iit, strict, behavior = config.effective_weights()
    checks = []
    if iit > 0:
        checks.append(metrics["iia"])
    if strict > 0:
        checks.append(metrics["strict_accuracy"])
    if behavior > 0:
        checks.append(metrics["accuracy"])
    return all(v >= config.early_stop_threshold - 1e-9 for v in checks)


def _init_wandb(config: TrainConfig, case_id: str, output_dir: Optional[str]):
    if not config.wandb:
        return None
    import wandb  # optional dependency, never online here

    return wandb.init(
        project=config.wandb_project, name=f"case_{case_id}_{config.run_name()}", config=config.to_dict(),
        mode=config.wandb_mode, dir=output_dir, reinit=True,
    )


def train(
    case: TracrCase | str,
    config: Optional[TrainConfig] = None,
    compiled: Optional[CompiledCase] = None,
    ll_model: Optional[HookedTransformer] = None,
    progress: bool = True,
    on_epoch: Optional[Callable[[int, dict[str, float]], None]] = None,
    wandb_dir: Optional[str] = None,
) -> TrainResult:
    """Train an LL model on `case` with the losses of `config.model_pair`; returns the pair and metrics."""
    config = config or TrainConfig()
    case = get_case(case) if isinstance(case, str) else case
    device = resolve_device(config.device)
    if device.type == "cpu" and config.cpu_threads:
        # Tiny models: one thread is many times faster than several fighting over busy cores.
        torch.set_num_threads(config.cpu_threads)
    seed_everything(config.seed)
    compiled = compiled or compile_case(case, device=device)
    if compiled.device != device:
        compiled = compile_case(case, device=device)
    pair = build_pair(compiled, config, device, ll_model)
    train_base, train_source = make_data(compiled, config.n_train, config.seed)
    test_base, test_source = make_data(compiled, config.n_test, config.seed + 7_777)
    iit_w, strict_w, behavior_w = config.effective_weights()

    ll = pair.ll_model
    optimizer = torch.optim.Adam(ll.parameters(), lr=config.lr)

    def step(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(ll.parameters(), config.clip_grad_norm)
        optimizer.step()

    run = _init_wandb(config, case.case_id, wandb_dir)
    result = TrainResult(case.case_id, config, pair, compiled)
    gen = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    n = train_base.shape[0]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc=f"case {case.case_id} [{config.model_pair}]", unit="epoch")
    try:
        for epoch in range(config.epochs):
            ll.train()
            base_perm = torch.randperm(n, generator=gen)
            source_perm = torch.randperm(n, generator=gen)  # fresh (base, source) pairing each epoch
            sums = {"iit_loss": 0.0, "strict_loss": 0.0, "behavior_loss": 0.0}
            steps = 0
            for i in range(0, n, config.batch_size):
                base = train_base[base_perm[i : i + config.batch_size]]
                source = train_source[source_perm[i : i + config.batch_size]]
                losses = []
                if iit_w > 0:
                    loss = iit_w * pair.iit_loss(base, source)
                    sums["iit_loss"] += loss.item()
                    losses.append(loss) if config.single_loss else step(loss)
                if strict_w > 0 and pair.corr.non_circuit_components:
                    loss = strict_w * pair.strict_loss(base, source)
                    sums["strict_loss"] += loss.item()
                    losses.append(loss) if config.single_loss else step(loss)
                if behavior_w > 0:
                    loss = behavior_w * pair.behavior_loss(base)
                    sums["behavior_loss"] += loss.item()
                    losses.append(loss) if config.single_loss else step(loss)
                if config.single_loss:
                    step(torch.stack(losses).sum())
                steps += 1
            metrics = {k: v / max(steps, 1) for k, v in sums.items()}
            metrics.update(pair.evaluate(test_base, test_source))
            metrics["epoch"] = epoch + 1
            metrics["seconds"] = time.perf_counter() - start
            result.history.append(metrics)
            result.epochs_run = epoch + 1
            if run is not None:
                run.log({k: v for k, v in metrics.items() if "/" not in k or k.startswith(("iia/", "strict/"))}, step=epoch)
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
        if bar is not None:
            bar.close()
        if run is not None:
            run.finish()
    ll.eval()
    result.seconds = time.perf_counter() - start
    return result


def save_result(result: TrainResult, root: str | Path = DEFAULT_ROOT, run: Optional[str] = None) -> Path:
    """Store a trained model in the InterpBench layout with its settings, final metrics and true edges."""
    meta = {
        "case": result.case_id,
        "run": run or result.config.run_name(),
        "training_args": result.config.to_dict(),
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 2),
        "stopped_early": result.stopped_early,
        "final_metrics": {k: v for k, v in result.final_metrics.items() if "/" not in k},
        "hl_nodes": {n.label: [c.name for c in n.components] for n in result.pair.corr.hl_nodes},
    }
    return save_ll_model(
        result.ll_model, result.case_id, run or result.config.run_name(), root, meta,
        result.compiled.alignment.mib_edges(),
    )


def evaluate_model(
    case: TracrCase | str,
    ll_model: HookedTransformer,
    n: int = 1000,
    seed: int = 12_345,
    atol: float = 0.05,
    compiled: Optional[CompiledCase] = None,
) -> dict[str, float]:
    """IIA, strict accuracy, accuracy and circuit-only accuracy of `ll_model` on fresh (base, source) pairs."""
    case = get_case(case) if isinstance(case, str) else case
    device = next(ll_model.parameters()).device
    compiled = compiled or compile_case(case, device=device)
    pair = build_pair(compiled, TrainConfig(atol=atol), device, ll_model)
    base, source = make_data(compiled, n, seed)
    return pair.evaluate(base, source)
