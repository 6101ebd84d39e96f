"""`run_benchmark`: (train or load) models, run every method on every case, evaluate, write tables.

Resumable: a circuit file (or stored model) that exists is not recomputed, unless it was found on
another version of its SIIT model, with other settings (examples, seed, learning settings) or by an
older version of its method (`MethodSpec.version`). A case or method that
fails is reported and the rest go on.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

from circuits_benchmark.bench.executors import run_jobs
from circuits_benchmark.bench.jobs import DiscoveryJob, EvaluationJob, JobOutcome, TrainJob
from circuits_benchmark.methods.base import learns
from circuits_benchmark.training.store import DEFAULT_ROOT
from circuits_benchmark.utils.atomic import finite_or_none, write_json, write_text

BENCH_TABLE_METRICS = (("auroc", "AUROC (rank-based, vs the true circuit)"),
                       ("auroc_induced_head", "AUROC against every edge among the true circuit's nodes (SIIT models)"),
                       ("auroc_rank_node", "AUROC at node level (the method's node scores, else each node's largest incident edge)"),
                       ("cpr", "CPR"), ("cmd", "CMD"), ("runtime_s", "runtime (s)"))
COMPARED_METRICS = (("auroc", True), ("auroc_induced_head", True), ("auroc_rank_node", True), ("cpr", True),
                    ("cmd", False))
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
    levels: tuple[str, ...] = ("edge",)
    """Levels to run every method at (a method runs the ones it has: e.g. sp node and edge, acdc edge)."""
    ablations: tuple[str, ...] = ("patching",)
    """Ablations to run every method with (a method runs the ones it supports; realism uses the first)."""
    n_examples: int = 32
    seed: int = 0
    learned_settings: dict = field(default_factory=dict)
    """`MethodConfig` fields (``epochs``, ``lr``) for the jobs that learn (`methods.learns`: sp, ugs, oa, and every
    method under optimal ablation); empty: the defaults."""
    workers: int = 1
    ray_address: Optional[str] = None
    train_missing: bool = False
    train_epochs: int = 500
    train_max_minutes: Optional[float] = None
    faithfulness: bool = True
    realism: bool = True
    """With model siit: each case's per-node ablation effects in its Tracr and SIIT models (InterpBench's realism)."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in ("tracr", "siit"):
            raise ValueError(f"--model must be tracr or siit, not {self.model!r}")
        if not self.cases or not self.methods:
            raise ValueError("give at least one case and one method")
        if isinstance(self.ablations, str):
            self.ablations = (self.ablations,)
        if isinstance(self.levels, str):
            self.levels = (self.levels,)
        if not self.ablations or not self.levels:
            raise ValueError("give at least one ablation and one level")

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
    realism_rows: list[dict] = field(default_factory=list)
    realism_node_rows: list[dict] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def tables(self) -> str:
        """The methods x cases tables of every headline metric, as plain text."""
        from circuits_benchmark.evaluation import format_results_table
        from circuits_benchmark.evaluation.statistics import format_comparisons, format_summary, wins_matrix
        from circuits_benchmark.utils.ordering import case_sort_key

        rows = _merged_rows(self.auroc_rows, self.faithfulness_rows)
        parts = []
        for metric, title in BENCH_TABLE_METRICS:
            if any(r.get(metric) is not None for r in rows):
                parts.append(f"{title}\n{format_results_table(rows, metric)}")
        failing = sorted({str(r["case"]) for r in rows if r.get("gate_passed") is False}, key=case_sort_key)
        if failing:
            parts.append(f"statistics below leave out the {len(failing)} case(s) whose SIIT model fails the quality "
                         f"gate (their circuit is not a reliable truth): {', '.join(failing)}")
        for metric, _, summaries, comparisons in self.statistics:
            text = f"{metric}: per method over cases\n{format_summary(summaries, metric)}"
            if comparisons:
                text += (f"\n\n{metric}: paired comparison over cases (Wilcoxon signed-rank, Vargha-Delaney A12)\n"
                         f"{format_comparisons(comparisons)}\n\n{metric}: row beats column (>), loses (<), "
                         f"no significant difference (=)\n{wins_matrix(comparisons)}")
            parts.append(text)
        if self.realism_rows:
            parts.append("realism: each node ablated alone, and the truth kept with every other node ablated\n"
                         + realism_summary(self.realism_rows))
        return "\n\n".join(parts)

    @cached_property
    def statistics(self) -> list[tuple[str, dict, list, list]]:
        """(metric, its (method, case) -> value table, per-method summaries, pairwise comparisons) of each
        compared metric that has results, over the models that pass the gate. Computed once, after the runs."""
        from circuits_benchmark.evaluation.results import results_table
        from circuits_benchmark.evaluation.statistics import compare_methods, summarize_methods

        rows = [r for r in _merged_rows(self.auroc_rows, self.faithfulness_rows) if r.get("gate_passed", True)]
        out = []
        for metric, higher_is_better in COMPARED_METRICS:
            _, _, values = results_table(rows, metric)
            if values:
                out.append((metric, values, summarize_methods(values, higher_is_better), compare_methods(values, higher_is_better)))
        return out


def _merged_rows(auroc_rows: list[dict], faithfulness_rows: list[dict]) -> list[dict]:
    """One row per circuit file with its AUROC and CPR/CMD side by side."""
    by_file: dict[str, dict] = {}
    for row in auroc_rows + faithfulness_rows:
        by_file.setdefault(row["file"], {}).update(row)
    return list(by_file.values())


def method_ablations(config: BenchConfig, method: str) -> list[str]:
    """The ablations of `config` that `method` supports (optimal ablation's own is `optimal`, run once)."""
    from circuits_benchmark.methods import get_method

    supported = get_method(method).ablations
    return [a for a in config.ablations if a in supported]


def method_levels(config: BenchConfig, method: str) -> list[str]:
    """The levels of `config` that `method` has."""
    from circuits_benchmark.methods import get_method

    return [level for level in config.levels if level in get_method(method).levels]


def discovery_jobs(config: BenchConfig, cases: list[str]) -> list[DiscoveryJob]:
    """One job per case, method, level and ablation; every case's first level before any case's next,
    so that the levels of one case rarely run at the same time (optimal-ablation values are learned
    once per case, see ``_method_options``, and later jobs read them)."""
    jobs = []
    for level_index in range(len(config.levels)):
        for case_id in cases:
            folder = config.circuits_dir / config.model_label / f"case_{case_id}"
            for method in config.methods:
                levels = method_levels(config, method)
                if level_index >= len(levels):
                    continue
                level = levels[level_index]
                for ablation in method_ablations(config, method):
                    out = folder / f"{method}_{level}_{ablation}.json"
                    options = _method_options(folder, method, ablation)
                    if learns(method, ablation):
                        options.update(config.learned_settings)
                    jobs.append(DiscoveryJob(case_id, method, str(out), config.model, config.run,
                                             config.models_root if config.model == "siit" else None,
                                             level, ablation, config.n_examples, config.seed, config.device,
                                             options))
    return jobs


def _method_options(folder: Path, method: str, ablation: str) -> dict:
    """Jobs that learn optimal-ablation values (oa always, other methods under ``optimal``) share one
    cache per case, so that each case learns them once."""
    if method == "oa" or ablation == "optimal":
        return {"extra": {"oa_cache": str(folder / "cache" / "oa_values.pt")}}
    return {}


def _compile_cases(config: BenchConfig, report: BenchReport) -> list[str]:
    """Compile (or load from the cache) every case once, before workers need them."""
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.models import is_ioi

    ready = []
    for case_id in config.cases:
        if is_ioi(case_id):  # no Tracr program: its stored model is loaded by each job
            ready.append(case_id)
            continue
        try:
            compile_case(get_case(case_id))
            ready.append(case_id)
        except Exception as err:  # noqa: BLE001 - one bad case never stops the others
            report.errors.append((f"case {case_id}", f"{type(err).__name__}: {err}"))
    return ready


def run_benchmark(config: BenchConfig, log=print) -> BenchReport:
    """Run the whole benchmark described by `config`; writes circuits, evaluation files and tables."""
    from circuits_benchmark.evaluation import find_circuit_files, write_rows
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
        from circuits_benchmark.models import is_ioi

        train_jobs = {c: TrainJob(c, config.models_root, config.run, train_config) for c in cases if not is_ioi(c)}
        outcomes = run_jobs(list(train_jobs.values()), config.workers, config.ray_address, "train", note)
        report.outcomes += outcomes  # IOI trains with `main.py train ioi`
        failed = {o.label for o in outcomes if not o.ok}
        cases = [c for c in cases if c not in train_jobs or train_jobs[c].label not in failed]
        phase("train", start)

    start = time.perf_counter()
    report.outcomes += run_jobs(discovery_jobs(config, cases), config.workers, config.ray_address, "discover", note)
    phase("discover", start)

    start = time.perf_counter()
    files = find_circuit_files(config.circuits_dir, models=[config.model_label], cases=cases, methods=config.methods)
    files = [f for f in files
             if f.level in method_levels(config, f.method) and f.ablation in method_ablations(config, f.method)]
    _evaluate(config, cases, files, report)
    if config.model == "siit":
        _mark_gate(config, report.auroc_rows + report.faithfulness_rows)
    phase("evaluate", start)

    _write(config, report, write_rows)
    return report


def _mark_gate(config: BenchConfig, rows: list[dict]) -> None:
    """`gate_passed` on each SIIT row: whether the stored model passes the quality gate (from its meta file)."""
    from circuits_benchmark.training.store import DEFAULT_RUN, passes_gate, read_meta

    passed: dict[str, bool] = {}
    for row in rows:
        case = str(row["case"])
        if case not in passed:
            passed[case] = passes_gate(read_meta(case, config.run or DEFAULT_RUN, config.models_root))
        row["gate_passed"] = passed[case]


def evaluation_jobs(config: BenchConfig, cases: list[str], files: list) -> list[EvaluationJob]:
    """One evaluation job per case (its circuit files, and its realism with model siit), the
    largest first so that the last job to start is a small one (the size of a case's circuit files
    stands for its cost)."""
    by_case: dict[str, list] = {case: [] for case in cases}
    for f in files:
        by_case.setdefault(f.case_id, []).append(f)
    realism = config.ablations[0] if config.realism and config.model == "siit" else None
    jobs = [EvaluationJob(case, config.model_label, tuple(mine), config.n_examples, config.seed, config.models_root,
                          config.run, config.device, config.faithfulness, realism)
            for case, mine in by_case.items() if mine or realism is not None]
    size = {job.case_id: sum(f.path.stat().st_size for f in job.files) for job in jobs}
    return sorted(jobs, key=lambda job: -size[job.case_id])


def _evaluate(config: BenchConfig, cases: list[str], files: list, report: BenchReport) -> None:
    """AUROC, CPR/CMD and realism rows of every case, one job per case on the workers; rows in the
    order of `files` (realism: of `cases`) whatever order the jobs finish in."""
    outcomes = run_jobs(evaluation_jobs(config, cases, files), config.workers, config.ray_address, "evaluate")
    file_order = {str(f.path): i for i, f in enumerate(files)}
    case_order = {case: i for i, case in enumerate(cases)}
    for outcome in sorted(outcomes, key=lambda o: case_order.get(o.details.get("case_id"), len(cases))):
        if not outcome.ok:
            report.errors.append((outcome.label, outcome.error))
            continue
        rows = outcome.details
        report.auroc_rows += rows["auroc_rows"]
        report.faithfulness_rows += rows["faithfulness_rows"]
        report.realism_rows += rows["realism_rows"]
        report.realism_node_rows += rows["realism_node_rows"]
        report.errors += [tuple(e) for e in rows["errors"]]
    report.auroc_rows.sort(key=lambda r: file_order[r["file"]])
    report.faithfulness_rows.sort(key=lambda r: file_order[r["file"]])


def realism_summary(rows: list[dict]) -> str:
    """Markdown: per model, means over cases of the realism summaries."""
    import numpy as np

    lines = ["| model | cases | mean effect, circuit nodes | mean effect, other nodes | min accuracy, one other "
             "node ablated | truth kept, others ablated (relative) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]

        def mean(key: str) -> str:
            values = [r[key] for r in mine if r[key] is not None and np.isfinite(r[key])]
            return f"{np.mean(values):.4g}" if values else "-"

        lines.append(f"| {model} | {len(mine)} | {mean('mean_effect_circuit')} | {mean('mean_effect_outside')} | "
                     f"{mean('min_accuracy_outside')} | {mean('truth_score')} |")
    return "\n".join(lines)


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
    if report.realism_rows:
        _write_realism(report, out, stem, write_rows)


def _write_realism(report: BenchReport, out: Path, stem: str, write_rows) -> None:
    """Realism rows (per case and model; per node) and a box plot of the accuracy left by ablating one node."""
    from circuits_benchmark.evaluation.plots import plot_box

    write_rows(report.realism_rows, out / f"{stem}_realism.csv", out / f"{stem}_realism.json")
    write_rows(report.realism_node_rows, out / f"{stem}_realism_nodes.csv")
    groups: dict[str, list[float]] = {}
    for r in report.realism_node_rows:
        where = "circuit" if r["in_circuit"] else "other"
        groups.setdefault(f"{r['model']}, {where} nodes", []).append(r["accuracy"])
    plot_box(dict(sorted(groups.items())), out / "plots" / f"{stem}_realism_box.png", "accuracy with the node ablated",
             title="one node ablated at a time, over all cases")


def _write_statistics(report: BenchReport, out: Path, stem: str, write_rows) -> None:
    """The pairwise comparisons as rows, and a box plot of each compared metric over the same cases."""
    from circuits_benchmark.evaluation.plots import plot_box
    from circuits_benchmark.evaluation.statistics import comparison_rows

    rows = []
    for metric, values, _, comparisons in report.statistics:
        rows += comparison_rows(comparisons, metric)
        per_method: dict[str, list[float]] = {}
        for (method, _), value in sorted(values.items()):
            per_method.setdefault(method, []).append(value)
        plot_box(per_method, out / "plots" / f"{stem}_{metric}_box.png", metric,
                 title=f"{metric} over cases ({stem.removeprefix('bench_')} models)")
    write_rows(rows, out / f"{stem}_comparisons.csv", out / f"{stem}_comparisons.json")
