"""SIIT / IIT / behaviour training of an LL model against a case's compiled Tracr model.

The LL model has InterpBench's shape (`training.ll_model`). Each step draws a batch of (base, source)
pairs and, as in InterpBench's strict model pair, steps the optimiser on each weighted loss
separately (IIT on a random HL node, strict on non-circuit nodes, behaviour), unless `single_loss`
sums them into one step. After each epoch the held-out metrics are computed; training stops early
once every metric that has a loss with weight > 0 (IIA for IIT, strict accuracy for strict,
accuracy for behaviour) reaches `early_stop_threshold`. The best epoch's weights (by the lowest of
those metrics) are what the run returns, never a later, worse epoch's.

Defaults are InterpBench's: Adam, lr 1e-3, betas (0.9, 0.9), gradient clipping 0.1, batch 256,
early stop at 99.5%. Three differences are deliberate and switchable: InterpBench multiplies the strict
weight into the strict loss twice (0.4 acts as 0.16); here it is applied once (`strict_weight_twice=True`
restores InterpBench's behaviour). The strict loss ablates one outside node and, in a second run, all of
them (`strict_sampling="one+all"`; InterpBench's is "one"). And the strict loss back-propagates through
the source run of the ablated nodes (`strict_source_grads`; InterpBench detaches it): with a detached
source an outside node's own weights get no gradient from the strict loss, so a model that computes the
output in an outside MLP is never told to stop (EXPERIMENTS.md §3: 3 of 5 failing cases passed with it).
`iit_source_grads` does the same for the IIT loss (InterpBench detaches it too): the intervened node's
own weights learn from its interventions. A node the data holds constant (e.g. `length` on full-length
inputs) passes them only with an input-independent output, which only its own weights can learn;
with it, models that missed the gate for hours pass in a minute or two (EXPERIMENTS.md §3).
`iit_sampling="weakest"` (not the default) draws the IIT loss's HL node half uniformly, half in proportion
to each node's held-out IIA error of the last epoch.

`fit` is the one training loop: `train` (Tracr cases) and `ioi.train_ioi` only build a pair and data and call it.
"""

from __future__ import annotations

import random
import time
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

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
IIT_SAMPLING = ("uniform", "weakest")
LR_SCHEDULERS = ("", "plateau", "linear")


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
    strict_sampling: str = "one+all"
    single_loss: bool = False
    strict_weight_twice: bool = False
    strict_source_grads: bool = True
    iit_source_grads: bool = True
    iit_sampling: str = "uniform"
    epochs: int = 500
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.9
    lr_scheduler: str = ""
    batch_size: int = 256
    n_train: int = 8000
    n_test: int = 1000
    clip_grad_norm: Optional[float] = 0.1
    same_size: bool = False
    d_model: Optional[int] = None
    d_head: Optional[int] = None
    d_mlp: Optional[int] = None
    n_heads: Optional[int] = None
    n_layers: Optional[int] = None
    act_fn: str = "gelu"
    atol: float = 0.05
    seed: int = 0
    early_stop: bool = True
    early_stop_threshold: float = 0.995
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
        if self.iit_sampling not in IIT_SAMPLING:
            raise ValueError(f"iit sampling must be one of {IIT_SAMPLING}, not {self.iit_sampling!r}")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ValueError(f"lr scheduler must be one of {LR_SCHEDULERS} ('' = none), not {self.lr_scheduler!r}")
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

    def strict_factor(self) -> float:
        """What the strict loss is multiplied by: its weight, or its square with `strict_weight_twice`."""
        strict = self.effective_weights()[1]
        return strict * strict if self.strict_weight_twice else strict

    def run_name(self) -> str:
        return interp_bench_run_name(*self.effective_weights())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interp_bench_run_name(iit: float, strict: float, behavior: float) -> str:
    """InterpBench's run id: int(10 * iit + 100 * behaviour + 1000 * strict), e.g. 510 for 1 / 0.4 / 1."""
    return str(int(round(10 * iit + 100 * behavior + 1000 * strict)))


class Batch(Protocol):
    """Training / test data: a length and indexing by a LongTensor (torch tensors, `ioi.data.IOIBatch`)."""

    def __len__(self) -> int: ...

    def __getitem__(self, idx: torch.Tensor) -> Any: ...


class TrainablePair(Protocol):
    """What `fit` trains: an LL model, its correspondence, the three losses and the held-out metrics
    (`evaluate` returns at least iia, strict_accuracy, accuracy and circuit_accuracy)."""

    ll_model: HookedTransformer
    corr: Correspondence
    hl_node_weights: Optional[np.ndarray]

    def iit_loss(self, base: Any, source: Any) -> torch.Tensor: ...

    def strict_loss(self, base: Any, source: Any) -> torch.Tensor: ...

    def behavior_loss(self, base: Any) -> torch.Tensor: ...

    def evaluate(self, base: Any, source: Any) -> dict[str, float]: ...


@dataclass
class TrainResult:
    """A training run: the pair (its LL model holds the best epoch's weights), per-epoch metrics, why it stopped.
    `compiled` is the Tracr case's compiled model (None for IOI)."""

    case_id: str
    config: TrainConfig
    pair: TrainablePair
    compiled: Optional[CompiledCase] = None
    history: list[dict[str, float]] = field(default_factory=list)
    epochs_run: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    stop_reason: str = ""
    best_epoch: int = 0
    earlier: dict[str, float] = field(default_factory=dict)
    """Epochs and seconds of earlier chunks this run continued (see `train_and_store`'s `retry_failed`)."""

    @property
    def ll_model(self) -> HookedTransformer:
        return self.pair.ll_model

    @property
    def final_metrics(self) -> dict[str, float]:
        """The metrics of the epoch whose weights were kept (the best one)."""
        return self.history[self.best_epoch - 1] if self.history and self.best_epoch else (
            self.history[-1] if self.history else {})


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_run(config: TrainConfig) -> torch.device:
    """The run's device; on CPU sets `cpu_threads`, then seeds every RNG with `config.seed`."""
    device = resolve_device(config.device)
    if device.type == "cpu" and config.cpu_threads:
        # Tiny models: one thread is many times faster than several fighting over busy cores.
        torch.set_num_threads(config.cpu_threads)
    seed_everything(config.seed)
    return device


def build_pair(
    compiled: CompiledCase, config: TrainConfig, device: torch.device, ll_model: Optional[HookedTransformer] = None
) -> ModelPair:
    """The model pair for a compiled case: a fresh seeded LL model unless one is given."""
    hl_cfg = compiled.model.cfg
    if ll_model is None:
        ll_cfg = make_ll_config(
            hl_cfg, compiled.case.case_id, config.same_size, config.d_model, config.d_head, config.d_mlp,
            config.n_heads, config.n_layers, config.act_fn, seed=config.seed, device=device,
        )
        ll_model = build_ll_model(ll_cfg, device)
    placed = compiled.alignment_for(ll_model)
    corr = Correspondence.from_alignment(compiled.alignment, ll_model.cfg.n_layers, ll_model.cfg.n_heads, placed)
    return ModelPair(
        compiled.model, ll_model, compiled.encoding, corr, compiled.case.is_categorical,
        atol=config.atol, strict_sampling=config.strict_sampling, rng=np.random.default_rng(config.seed),
        strict_source_grads=config.strict_source_grads, iit_source_grads=config.iit_source_grads,
        undefined_below=compiled.undefined_below,
    )


def make_data(compiled: CompiledCase, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded (base, source) tokens: the case's clean and corrupted inputs."""
    data = compiled.case.dataset(n, seed)
    return compiled.tokens(data.clean_inputs), compiled.tokens(data.corrupted_inputs)


def _gated(metrics: dict[str, float], config: TrainConfig) -> list[float]:
    """The metrics of the losses in use: IIA (IIT), strict accuracy (strict), accuracy (behaviour)."""
    iit, strict, behavior = config.effective_weights()
    keys = [k for k, w in (("iia", iit), ("strict_accuracy", strict), ("accuracy", behavior)) if w > 0]
    return [metrics[k] for k in keys]


def _stop(metrics: dict[str, float], config: TrainConfig) -> bool:
    return all(v >= config.early_stop_threshold - 1e-9 for v in _gated(metrics, config))


def _ranking(gated: list[float], sufficiency: float) -> tuple[float, float, float]:
    """How good a model is: its lowest gated metric, then their mean, then circuit sufficiency."""
    return min(gated), float(np.mean(gated)), float(sufficiency)


def _score(metrics: dict[str, float], config: TrainConfig) -> tuple[float, float, float]:
    """How good an epoch is (`_ranking` of the metrics of the losses in use)."""
    return _ranking(_gated(metrics, config), metrics.get("circuit_accuracy", 0.0))


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.lr_scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=10)
    if config.lr_scheduler == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: max(0.0, 1.0 - e / config.epochs))
    return None


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
    device = prepare_run(config)
    compiled = compiled or compile_case(case, device=device)
    if compiled.device != device:
        compiled = compile_case(case, device=device)
    pair = build_pair(compiled, config, device, ll_model)
    train_base, train_source = make_data(compiled, config.n_train, config.seed)
    test_base, test_source = make_data(compiled, config.n_test, config.seed + 7_777)
    result = fit(pair, config, case.case_id, train_base, train_source, test_base, test_source,
                 progress=progress, on_epoch=on_epoch, wandb_dir=wandb_dir)
    result.compiled = compiled
    return result


def fit(
    pair: TrainablePair,
    config: TrainConfig,
    case_id: str,
    train_base: Batch,
    train_source: Batch,
    test_base: Batch,
    test_source: Batch,
    *,
    progress: bool = True,
    desc: Optional[str] = None,
    on_epoch: Optional[Callable[[int, dict[str, float]], None]] = None,
    wandb_dir: Optional[str] = None,
    context: Optional[AbstractContextManager[Any]] = None,
) -> TrainResult:
    """The training loop every model pair trains with (see the module docstring).

    Each epoch pairs the training bases and sources by fresh permutations, steps Adam on each weighted
    loss (or on their sum with `single_loss`), then computes `pair.evaluate` on the test pairs, keeps the
    best epoch's weights, calls `on_epoch(epoch, metrics)`, steps the lr scheduler and checks the early
    stop and time limit. `context` (e.g. IOI's `fast_mode`) is active while training; on return the LL
    model holds the best epoch's weights, in eval mode.
    """
    iit_w, _, behavior_w = config.effective_weights()
    strict_w = config.strict_factor()
    ll = pair.ll_model
    optimizer = torch.optim.Adam(ll.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    scheduler = _scheduler(optimizer, config)
    best_state: Optional[dict[str, torch.Tensor]] = None
    best_score: Optional[tuple[float, ...]] = None

    def step(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(ll.parameters(), config.clip_grad_norm)
        optimizer.step()

    result = TrainResult(case_id, config, pair)
    gen = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    n = len(train_base)
    with ExitStack() as stack:
        if context is not None:
            stack.enter_context(context)
        run = _init_wandb(config, case_id, wandb_dir)
        if run is not None:
            stack.callback(run.finish)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = stack.enter_context(
                tqdm(total=config.epochs, desc=desc or f"case {case_id} [{config.model_pair}]", unit="epoch"))
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
            score = _score(metrics, config)
            if best_score is None or score > best_score:
                best_score, result.best_epoch = score, epoch + 1
                best_state = {k: v.detach().clone() for k, v in ll.state_dict().items()}
            if config.iit_sampling == "weakest":
                pair.hl_node_weights = pair.corr.weakest_node_weights(
                    {k[len("iia/"):]: v for k, v in metrics.items() if k.startswith("iia/")})
            if on_epoch is not None:
                on_epoch(epoch + 1, metrics)
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(score[0])
            elif scheduler is not None:
                scheduler.step()
            if config.early_stop and _stop(metrics, config):
                result.stopped_early, result.stop_reason = True, "early stop"
                break
            if config.max_seconds is not None and metrics["seconds"] >= config.max_seconds:
                result.stop_reason = f"time limit ({config.max_seconds:.0f} s)"
                break
        else:
            result.stop_reason = f"epoch limit ({config.epochs})"
    if best_state is not None:
        ll.load_state_dict(best_state)
    ll.eval()
    result.seconds = time.perf_counter() - start
    return result


GATE_PAIRS = 1000
GATE_THRESHOLD = 0.99
SUFFICIENCY_TARGET = 0.95
GATE_SEED = 12_345
"""The ground-truth quality gate: on GATE_PAIRS fresh held-out pairs, IIA, strict accuracy and accuracy
must all reach GATE_THRESHOLD (InterpBench's bar). Circuit sufficiency (accuracy with every non-circuit
node resample-ablated at once) is recorded and flagged at SUFFICIENCY_TARGET."""


def quality_gate(result: TrainResult, n: int = GATE_PAIRS, seed: int = GATE_SEED) -> dict[str, Any]:
    """The gate's metrics for a trained model, on pairs never used in training or early stopping."""
    if result.compiled is None:
        raise ValueError("the quality gate checks Tracr-case models (result.compiled is None)")
    metrics = evaluate_model(result.compiled.case, result.ll_model, n=n, seed=seed, atol=result.config.atol,
                             compiled=result.compiled)
    return gate_from_metrics(metrics, n)


def gate_from_metrics(metrics: dict[str, float], n: int = GATE_PAIRS) -> dict[str, Any]:
    """The gate's verdict from `ModelPair.evaluate` metrics, with the weakest HL node (lowest IIA) and the
    weakest outside node (lowest accuracy when ablated alone): where a failing model falls short."""
    gate: dict[str, Any] = {k: metrics[k] for k in ("iia", "strict_accuracy", "accuracy", "circuit_accuracy")}
    gate["pairs"] = n
    gate["passed"] = all(gate[k] >= GATE_THRESHOLD for k in ("iia", "strict_accuracy", "accuracy"))
    gate["sufficient"] = gate["circuit_accuracy"] >= SUFFICIENCY_TARGET
    for prefix, key in (("iia/", "weakest_hl_node"), ("strict/", "weakest_outside_node")):
        rates = {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}
        if rates:
            name = min(rates, key=rates.get)
            gate[key] = {"name": name, "rate": rates[name]}
    return gate


def regate_stored(case_id: str, run: str, root: str | Path = DEFAULT_ROOT, recompute: bool = False) -> dict[str, Any]:
    """Recompute a stored model's gate (same pairs and seed) and write it into its meta file.

    For models gated before the gate recorded its weakest nodes, and IOI models stored without a gate.
    The gate's four numbers must come out as stored (they are a function of the weights and the seed);
    a mismatch is an error, never a silent change, unless `recompute` says the way the gate measures
    changed (the new numbers are then written)."""
    from circuits_benchmark.models import is_ioi
    from circuits_benchmark.training.store import load_ll_model, write_meta

    stored = load_ll_model(case_id, run, root)
    old = stored.meta.get("gate") or {}
    n = int(old.get("pairs", GATE_PAIRS))
    if is_ioi(case_id):
        from circuits_benchmark.ioi.train import config_from_meta, ioi_quality_gate

        gate = ioi_quality_gate(stored.model, config_from_meta(stored.meta), n)
    else:
        atol = float((stored.meta.get("training_args") or {}).get("atol", 0.05))
        gate = gate_from_metrics(evaluate_model(case_id, stored.model, n=n, seed=GATE_SEED, atol=atol), n)
    for key in ("iia", "strict_accuracy", "accuracy", "circuit_accuracy"):
        if key in old and abs(old[key] - gate[key]) > 1e-9 and not recompute:
            raise ValueError(f"case {case_id}: recomputed {key} {gate[key]:.6f} differs from the stored {old[key]:.6f}")
    write_meta(case_id, run, root, {**stored.meta, "gate": gate})
    return gate


def train_and_store(case_id: str, config: TrainConfig, root: str | Path = DEFAULT_ROOT, run: Optional[str] = None,
                    progress: bool = True, retry_failed: bool = False, restart: bool = False,
                    restart_insufficient: bool = False) -> dict[str, Any]:
    """Train one case unless its model is stored (then only check it loads), gate it and store it.

    Returns a summary: `skipped`, and for a new model epochs, seconds, stop reason and the gate.
    A model is stored whether or not it passes the gate; the gate result is in its meta file.
    `retry_failed` goes on training a stored model that failed the gate, from its stored weights (a
    fresh optimiser), so a long training runs in chunks across invocations; epochs and seconds add up.
    With `restart` it trains a failing stored model again from a fresh initialisation instead (for a
    recipe the stored weights were not trained with); the stored model's seconds then count as
    `discarded_seconds` in the meta file. `restart_insufficient` restarts, in the same way, stored models
    that pass the gate but whose circuit alone keeps less than SUFFICIENCY_TARGET of the behaviour.
    Either way the new model replaces the stored one only if it is better (`model_rank`).
    """
    from circuits_benchmark.training.store import passes_gate, stored_model

    run = run or config.run_name()
    start_from, earlier, discarded = None, {}, 0.0
    stored = stored_model(case_id, run, root)  # a broken file is an error, not a skip
    stored_gate = (stored.meta.get("gate") or {}) if stored is not None else {}
    if stored is not None:
        if passes_gate(stored.meta):
            if not (restart_insufficient and stored_gate.get("sufficient") is False):
                return {"skipped": True}
            restart = True
        elif not (retry_failed or restart):
            return {"skipped": True}
        discarded = float(stored.meta.get("discarded_seconds", 0.0))  # earlier restarts' replaced runs
        if not restart:
            start_from, earlier = stored.model, earlier_chunks(stored.meta)

    result = train(case_id, config, ll_model=start_from, progress=progress)
    result.earlier = earlier
    gate = quality_gate(result)
    summary = {"skipped": False, "epochs": result.epochs_run, "seconds": round(result.seconds, 1),
               "stop_reason": result.stop_reason, "gate": gate}
    if stored is not None and model_rank(gate) <= model_rank(stored_gate):
        # A chunk that ends worse than the model it continued must not replace it: keep the stored
        # weights and gate, and record the chunk's epochs and seconds in its meta.
        from circuits_benchmark.training.store import write_meta

        if stored_gate.get("passed"):
            kept = (f"{result.stop_reason}, {'passing' if gate.get('passed') else 'failing'} at all-outside-"
                    f"ablated accuracy {gate.get('circuit_accuracy', 0.0):.4f}, no better than the stored model's "
                    f"{stored_gate.get('circuit_accuracy', 0.0):.4f}: stored model kept")
        else:
            kept = (f"{result.stop_reason}, at gate minimum {gate_score(gate)[0]:.4f}, no better than the stored "
                    f"model's {gate_score(stored_gate)[0]:.4f}: stored model kept")
        if restart:
            update = {"discarded_seconds": round(discarded + result.seconds, 2),
                      "stop_reason": f"restart ended by {kept}"}
        else:
            totals = chunk_totals(result)
            update = {**totals, "stop_reason": f"chunk {totals['chunks']} ended by {kept}"}
        write_meta(case_id, run, root, {**stored.meta, **update})
        return {**summary, "kept_stored": True, "gate": stored_gate, "stop_reason": kept}
    if restart and stored is not None:  # the stored model is replaced without being continued
        discarded += float(stored.meta.get("seconds", 0.0))
    save_result(result, root, run, gate=gate, discarded_seconds=discarded)
    return summary


def model_rank(gate: dict[str, Any]) -> tuple:
    """Which of two models is better: one that passes the gate beats one that fails; between two that
    pass, the higher all-outside-ablated accuracy (then `gate_score`); between two that fail, `gate_score`."""
    if gate.get("passed"):
        return True, (float(gate.get("circuit_accuracy", 0.0)), *gate_score(gate))
    return False, gate_score(gate)


def gate_score(gate: dict[str, Any]) -> tuple[float, float, float]:
    """How good a gate result is (`_ranking` of IIA, strict accuracy and accuracy; all 0 for a missing gate)."""
    return _ranking([float(gate.get(k, 0.0)) for k in ("iia", "strict_accuracy", "accuracy")],
                    gate.get("circuit_accuracy", 0.0))


def chunk_totals(result: TrainResult) -> dict[str, Any]:
    """Epochs, seconds and chunks of a model's whole training: this run plus the chunks it continued."""
    return {"epochs_run": result.epochs_run + int(result.earlier.get("epochs", 0)),
            "seconds": round(result.seconds + result.earlier.get("seconds", 0.0), 2),
            "chunks": int(result.earlier.get("chunks", 0)) + 1}


def earlier_chunks(meta: dict[str, Any]) -> dict[str, Any]:
    """Epochs, seconds and chunks of a stored model's training, for a run that continues it (`TrainResult.earlier`)."""
    return {"epochs": meta.get("epochs_run", 0), "seconds": meta.get("seconds", 0.0), "chunks": meta.get("chunks", 1)}


def result_meta(result: TrainResult, run: Optional[str] = None) -> dict[str, Any]:
    """The meta-file fields every stored model has: settings, LL shape, how training went, metrics, HL nodes."""
    cfg = result.ll_model.cfg
    return {
        "case": result.case_id,
        "run": run or result.config.run_name(),
        "training_args": result.config.to_dict(),
        "ll_shape": {"n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "d_model": cfg.d_model,
                     "d_head": cfg.d_head, "d_mlp": cfg.d_mlp},
        "n_params": sum(p.numel() for p in result.ll_model.parameters()),
        **chunk_totals(result),
        "best_epoch": result.best_epoch + int(result.earlier.get("epochs", 0)),
        "stopped_early": result.stopped_early,
        "stop_reason": result.stop_reason,
        "final_metrics": {k: v for k, v in result.final_metrics.items() if "/" not in k},
        "hl_nodes": {n.label: [c.name for c in n.components] for n in result.pair.corr.hl_nodes},
    }


def save_result(result: TrainResult, root: str | Path = DEFAULT_ROOT, run: Optional[str] = None,
                gate: Optional[dict[str, Any]] = None, discarded_seconds: float = 0.0) -> Path:
    """Store a trained model in the InterpBench layout with its settings, metrics, gate and true edges
    (and the seconds of earlier runs it replaced without continuing them, if any)."""
    if result.compiled is None:
        raise ValueError("save_result stores Tracr-case models (result.compiled is None)")
    meta = {**result_meta(result, run), "gate": gate}
    if discarded_seconds:
        meta["discarded_seconds"] = round(discarded_seconds, 2)
    truth = result.compiled.alignment_for(result.ll_model)
    return save_ll_model(result.ll_model, result.case_id, run or result.config.run_name(), root, meta, truth.edges)


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
