"""Units of benchmark work. Each job is a picklable description run by a top-level function, so
the same job runs in this process, in a process pool or on a Ray worker."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch


@dataclass(frozen=True)
class TrainJob:
    """Train (SIIT by default) the low-level model of one case, unless it is already stored.

    `config` holds `TrainConfig` fields (defaults for the rest).
    """

    case_id: str
    models_root: str
    run: Optional[str] = None
    config: dict = field(default_factory=dict)
    retry_failed: bool = False
    restart: bool = False
    restart_insufficient: bool = False

    @property
    def label(self) -> str:
        return f"train case {self.case_id}"


@dataclass(frozen=True)
class DiscoveryJob:
    """Run one discovery method on one case's model and write its circuit file."""

    case_id: str
    method: str
    out: str
    model: str = "tracr"
    run: Optional[str] = None
    models_root: Optional[str] = None
    level: str = "edge"
    ablation: str = "patching"
    n_examples: int = 32
    seed: int = 0
    device: str = "cpu"
    method_options: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method} on case {self.case_id} ({self.model})"


@dataclass(frozen=True)
class EvaluationJob:
    """Evaluate one case's circuit files (AUROC, and CPR/CMD with `faithfulness`) and, with
    `realism_ablation`, measure the realism of the case's models. The rows come back in the
    outcome's details (``auroc_rows``, ``faithfulness_rows``, ``realism_rows``,
    ``realism_node_rows``, ``errors``)."""

    case_id: str
    model: str
    files: tuple = ()
    """The case's `CircuitFile`s."""
    n_examples: int = 32
    seed: int = 0
    models_root: Optional[str] = None
    run: Optional[str] = None
    device: str = "cpu"
    faithfulness: bool = True
    realism_ablation: Optional[str] = None

    @property
    def label(self) -> str:
        return f"evaluate case {self.case_id} ({self.model})"


@dataclass
class JobOutcome:
    label: str
    ok: bool
    seconds: float
    skipped: bool = False
    error: str = ""
    details: dict = field(default_factory=dict)


def run_job(job: TrainJob | DiscoveryJob | EvaluationJob) -> JobOutcome:
    """Run a job, turning any failure into a reported outcome (one failing case never stops the rest)."""
    torch.set_num_threads(1)  # tiny models: one thread per worker is fastest
    start = time.perf_counter()
    try:
        run = {TrainJob: _train, DiscoveryJob: _discover, EvaluationJob: _evaluate}[type(job)]
        skipped, details = run(job)
        return JobOutcome(job.label, True, time.perf_counter() - start, skipped, details=details)
    except Exception as err:  # noqa: BLE001 - reported, never silently dropped
        message = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"
        return JobOutcome(job.label, False, time.perf_counter() - start, error=message)


def _train(job: TrainJob) -> tuple[bool, dict]:
    from circuits_benchmark.training import TrainConfig, train_and_store

    config = TrainConfig(**job.config)
    outcome = train_and_store(job.case_id, config, job.models_root, job.run, progress=False,
                              retry_failed=job.retry_failed, restart=job.restart,
                              restart_insufficient=job.restart_insufficient)
    return outcome.pop("skipped"), outcome


def _discover(job: DiscoveryJob) -> tuple[bool, dict]:
    from circuits_benchmark.commands.run import discover_and_save
    from circuits_benchmark.methods import MethodConfig
    from circuits_benchmark.models import load_subject

    out = Path(job.out)
    digest = model_digest(job)
    if is_done(out, digest, job):
        return True, {}
    torch.manual_seed(job.seed)
    subject = load_subject(job.case_id, job.model, job.run, job.models_root, job.device)  # a Tracr case or IOI
    task = subject.task(job.n_examples, job.seed)
    config = MethodConfig(level=job.level, ablation=job.ablation, seed=job.seed, progress=False, **job.method_options)
    model_meta = {"kind": job.model, "case": job.case_id, "run": job.run, "weights_sha256": digest, "job": asdict(job)}
    _, seconds = discover_and_save(task, job.method, config, out, model_meta)
    return False, {"method_seconds": seconds}


def _evaluate(job: EvaluationJob) -> tuple[bool, dict]:
    from circuits_benchmark.evaluation.bulk import CaseCache, auroc_rows, faithfulness_rows

    cases = CaseCache(job.device)
    out: dict = {"case_id": job.case_id, "faithfulness_rows": [], "realism_rows": [], "realism_node_rows": []}
    files = list(job.files)
    out["auroc_rows"], out["errors"] = auroc_rows(files, cases=cases, progress=False, models_root=job.models_root,
                                                  run=job.run)
    if job.faithfulness and files:
        out["faithfulness_rows"], errors = faithfulness_rows(files, n_examples=job.n_examples, seed=job.seed,
                                                             models_root=job.models_root, run=job.run, cases=cases,
                                                             progress=False)
        out["errors"] += errors
    if job.realism_ablation is not None:
        try:
            out["realism_node_rows"], out["realism_rows"] = _case_realism(job)
        except Exception as err:  # noqa: BLE001 - reported with the case, the other rows stay
            out["errors"].append((f"realism case {job.case_id}", f"{type(err).__name__}: {err}"))
    return False, out


def _case_realism(job: EvaluationJob) -> tuple[list[dict], list[dict]]:
    """Per-node ablation effects of the case's Tracr (none for IOI) and SIIT models."""
    import warnings

    from circuits_benchmark.evaluation.realism import case_realism
    from circuits_benchmark.models import GateWarning, is_ioi, load_subject

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GateWarning)  # the gate is a column of the tables instead
        subjects = {} if is_ioi(job.case_id) else {"tracr": load_subject(job.case_id, "tracr", device=job.device)}
        subjects["siit"] = load_subject(job.case_id, "siit", job.run, job.models_root, job.device)
    return case_realism(subjects, job.n_examples, job.seed, job.realism_ablation)


def model_digest(job: DiscoveryJob) -> Optional[str]:
    """SHA-256 of the stored SIIT model a job studies (None for a compiled Tracr model, rebuilt from its case)."""
    from circuits_benchmark.models import ioi_case_id, is_ioi
    from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN, weights_digest

    if job.model != "siit":
        return None
    case_id = ioi_case_id(job.case_id) if is_ioi(job.case_id) else job.case_id
    return weights_digest(case_id, job.run or DEFAULT_RUN, job.models_root or DEFAULT_ROOT)


SETTINGS = ("n_examples", "seed", "method_options")
"""The job fields a circuit depends on beyond its file name (method, level, ablation) and model."""


def is_done(out: Path, digest: Optional[str], job: DiscoveryJob) -> bool:
    """Whether circuit file `out` and its meta exist and were found on the model of `digest` (the one
    stored now: a retrained model's circuits are found again, and so is a circuit whose meta is missing),
    by the method's current version (`MethodSpec.version`) and with `job`'s settings (examples, seed,
    method options such as --epochs / --lr). Otherwise the circuit is found again rather than reported
    as this job's."""
    from circuits_benchmark.commands.run import meta_path
    from circuits_benchmark.methods import get_method

    if not out.exists():
        return False
    try:
        meta = json.loads(meta_path(out).read_text())
        model = meta["model"]
        if model.get("weights_sha256") != digest or meta.get("method_version", 1) != get_method(job.method).version:
            return False
        stored = model["job"]
        return all(_setting(stored.get(name)) == _setting(getattr(job, name)) for name in SETTINGS)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _setting(value):
    """A setting as compared by `is_done`: JSON's view of it, without the optimal-ablation cache's
    path (where the values are kept, not what they are)."""
    value = json.loads(json.dumps(value))
    if isinstance(value, dict) and isinstance(value.get("extra"), dict):
        extra = {k: v for k, v in value["extra"].items() if k != "oa_cache"}
        value = {**value, "extra": extra} if extra else {k: v for k, v in value.items() if k != "extra"}
    return value
