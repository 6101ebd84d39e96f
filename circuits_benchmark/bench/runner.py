"""`run_benchmark`: (train or load) models, run every method on every case, evaluate, write tables.

Resumable: a circuit file (or stored model) that exists is not recomputed. A case or method that
fails is reported and the rest go on.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from circuits_benchmark.bench.executors import run_jobs
from circuits_benchmark.bench.jobs import DiscoveryJob, JobOutcome, TrainJob
from circuits_benchmark.training.store import DEFAULT_ROOT
from circuits_benchmark.utils.atomic import finite_or_none, write_json, write_text

BENCH_TABLE_METRICS = (("auroc", "AUROC (rank-based, vs the true circuit)"),
                       ("auroc_rank_node", "AUROC at node level (the method's node scores, else each node's largest incident edge)"),
                       ("cpr", "CPR"), ("cmd", "CMD"), ("runtime_s", "runtime (s)"))
COMPARED_METRICS = (("auroc", True), ("auroc_rank_node", True), ("cpr", True), ("cmd", False))
"""Metrics whose methods are compared pairwise over cases, and whether higher is better (CMD: lower)."""


@dataclass
class BenchConfig:
    """What to run. `model`: "tracr" (the compiled models) or "siit" (the stored SIIT models; with
    `train_missing`, cases without one are trained first)."""

    cases: list[str]
    methods: list[str]
    model: str = "tracr"
    results_dir: str = "results"
    models_root: str = str(DEFAULT_ROOT)
    run: Optional[str] = None
    level: str = "edge"
    ablation: str = "patching"
    n_examples: int = 32
    seed: int = 0
    workers: int = 1
    ray_address: Optional[str] = None
    train_missing: bool = False
    train_epochs: int = 500
    train_max_minutes: Optional[float] = None
    faithfulness: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in ("tracr", "siit"):
            raise ValueError(f"--model must be tracr or siit, not {self.model!r}")
        if not self.cases or not self.methods:
            raise ValueError("give at least one case and one method")

    @property
    def model_label(self) -> str:
        return self.model if self.run is None else f"{self.model}_{self.run}"

    @property
    def circuits_dir(self) -> Path:
        return Path(self.results_dir) / "circuits"

    @property
    def eval_dir(self) -> Path:
        return Path(self.results_dir) / "eval"


@dataclass
class BenchReport:
    outcomes: list[JobOutcome] = field(default_factory=list)
    auroc_rows: list[dict] = field(default_factory=list)
    faithfulness_rows: list[dict] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def tables(self) -> str:
        """The methods x cases tables of every headline metric, as plain text."""
        from circuits_benchmark.evaluation import format_results_table

        from circuits_benchmark.evaluation.statistics import format_comparisons, format_summary, wins_matrix

        rows = _merged_rows(self.auroc_rows, self.faithfulness_rows)
        parts = []
        for metric, title in BENCH_TABLE_METRICS:
            if any(r.get(metric) is not None for r in rows):
                parts.append(f"{title}\n{format_results_table(rows, metric)}")
        for metric, summaries, comparisons in self.statistics():
            text = f"{metric}: per method over cases\n{format_summary(summaries, metric)}"
            if comparisons:
                text += (f"\n\n{metric}: paired comparison over cases (Wilcoxon signed-rank, Vargha-Delaney A12)\n"
                         f"{format_comparisons(comparisons)}\n\n{metric}: row beats column (>), loses (<), "
                         f"no significant difference (=)\n{wins_matrix(comparisons)}")
            parts.append(text)
        return "\n\n".join(parts)

    def statistics(self) -> list[tuple[str, list, list]]:
        """(metric, per-method summaries, pairwise comparisons) of each compared metric that has results."""
        from circuits_benchmark.evaluation.results import results_table
        from circuits_benchmark.evaluation.statistics import compare_methods, summarize_methods

        rows = _merged_rows(self.auroc_rows, self.faithfulness_rows)
        out = []
        for metric, higher_is_better in COMPARED_METRICS:
            _, _, values = results_table(rows, metric)
            if values:
                out.append((metric, summarize_methods(values), compare_methods(values, higher_is_better)))
        return out


def _merged_rows(auroc_rows: list[dict], faithfulness_rows: list[dict]) -> list[dict]:
    """One row per circuit file with its AUROC and CPR/CMD side by side."""
    by_file: dict[str, dict] = {}
    for row in auroc_rows + faithfulness_rows:
        by_file.setdefault(row["file"], {}).update(row)
    return list(by_file.values())


def discovery_jobs(config: BenchConfig, cases: list[str]) -> list[DiscoveryJob]:
    jobs = []
    for case_id in cases:
        folder = config.circuits_dir / config.model_label / f"case_{case_id}"
        for method in config.methods:
            out = folder / f"{method}_{config.level}_{config.ablation}.json"
            jobs.append(DiscoveryJob(case_id, method, str(out), config.model, config.run,
                                     config.models_root if config.model == "siit" else None,
                                     config.level, config.ablation, config.n_examples, config.seed, config.device))
    return jobs


def _compile_cases(config: BenchConfig, report: BenchReport) -> list[str]:
    """Compile (or load from the cache) every case once, before workers need them."""
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case

    ready = []
    for case_id in config.cases:
        try:
            compile_case(get_case(case_id))
            ready.append(case_id)
        except Exception as err:  # noqa: BLE001 - one bad case never stops the others
            report.errors.append((f"case {case_id}", f"{type(err).__name__}: {err}"))
    return ready


def run_benchmark(config: BenchConfig, log=print) -> BenchReport:
    """Run the whole benchmark described by `config`; writes circuits, evaluation files and tables."""
    from circuits_benchmark.evaluation import find_circuit_files, write_rows
    from circuits_benchmark.evaluation.bulk import CaseCache, auroc_rows, faithfulness_rows
    from circuits_benchmark.methods import get_method

    for method in config.methods:
        get_method(method)  # unknown names fail before any work
    report = BenchReport()

    def phase(name: str, start: float) -> None:
        report.phase_seconds[name] = round(time.perf_counter() - start, 2)

    def note(outcome: JobOutcome) -> None:
        if not outcome.ok:
            log(f"FAILED {outcome.label}: {outcome.error.splitlines()[0]}")

    start = time.perf_counter()
    cases = _compile_cases(config, report)
    phase("compile", start)

    if config.model == "siit" and config.train_missing:
        start = time.perf_counter()
        train_config = {"epochs": config.train_epochs, "seed": config.seed, "device": config.device,
                        "max_seconds": None if config.train_max_minutes is None else 60 * config.train_max_minutes}
        train_jobs = [TrainJob(c, config.models_root, config.run, train_config) for c in cases]
        outcomes = run_jobs(train_jobs, config.workers, config.ray_address, "train", note)
        report.outcomes += outcomes
        failed = {o.label for o in outcomes if not o.ok}
        cases = [c for c, job in zip(cases, train_jobs) if job.label not in failed]
        phase("train", start)

    start = time.perf_counter()
    report.outcomes += run_jobs(discovery_jobs(config, cases), config.workers, config.ray_address, "discover", note)
    phase("discover", start)

    start = time.perf_counter()
    files = find_circuit_files(config.circuits_dir, models=[config.model_label], cases=cases, methods=config.methods)
    files = [f for f in files if f.level == config.level and f.ablation == config.ablation]
    case_cache = CaseCache(config.device)
    report.auroc_rows, errors = auroc_rows(files, cases=case_cache, models_root=config.models_root, run=config.run)
    report.errors += errors
    if config.faithfulness:
        report.faithfulness_rows, errors = faithfulness_rows(
            files, n_examples=config.n_examples, seed=config.seed, models_root=config.models_root,
            run=config.run, cases=case_cache)
        report.errors += errors
    phase("evaluate", start)

    _write(config, report, write_rows)
    return report


def _write(config: BenchConfig, report: BenchReport, write_rows) -> None:
    out = config.eval_dir
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bench_{config.model_label}"
    write_rows(_merged_rows(report.auroc_rows, report.faithfulness_rows), out / f"{stem}.csv", out / f"{stem}.json")
    summary = {
        "config": asdict(config),
        "phase_seconds": report.phase_seconds,
        "jobs": [asdict(o) for o in report.outcomes],
        "errors": report.errors,
    }
    write_json(out / f"{stem}_run.json", finite_or_none(summary), indent=2, default=str)
    write_text(out / f"{stem}_tables.txt", report.tables() + "\n")
    _write_statistics(report, out, stem, write_rows)


def _write_statistics(report: BenchReport, out: Path, stem: str, write_rows) -> None:
    """The pairwise comparisons as rows, and a box plot of each compared metric over cases."""
    from circuits_benchmark.evaluation.plots import plot_box
    from circuits_benchmark.evaluation.results import results_table
    from circuits_benchmark.evaluation.statistics import comparison_rows

    rows, merged = [], _merged_rows(report.auroc_rows, report.faithfulness_rows)
    for metric, _, comparisons in report.statistics():
        rows += comparison_rows(comparisons, metric)
        methods, cases, values = results_table(merged, metric)
        per_method = {m: [values[(m, c)] for c in cases if (m, c) in values] for m in methods}
        plot_box(per_method, out / "plots" / f"{stem}_{metric}_box.png", metric,
                 title=f"{metric} over cases ({stem.removeprefix('bench_')} models)")
    write_rows(rows, out / f"{stem}_comparisons.csv", out / f"{stem}_comparisons.json")
