"""Evaluate every circuit file of a results folder: AUROC rows and faithfulness rows.

Every file is read against the model its folder names (the case's Tracr model for ``tracr``, the
stored SIIT model for ``siit`` / ``siit_{run}``, InterpBench's for ``interpbench``; IOI folders the
stored IOI model): a file whose cfg or node / edge names differ from
that model's graph, or that holds non-finite scores, is refused. Per-file failures (refused or
unreadable file, degenerate truth, undefined faithfulness, missing model) are collected as
``(path, message)`` and the other files go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from tqdm.auto import tqdm

from circuits_benchmark.graph import Circuit, CircuitFileError, CircuitModelMismatchError, ComputationalGraph

from .auroc import DegenerateTruthError, auroc_report, mib_auroc, rank_auroc
from .faithfulness import FRACTIONS, faithfulness_curves
from .plots import plot_faithfulness, plot_roc
from .results import CircuitFile, eval_ablation_for, runtime_of, truth_ablation_for

Errors = list[tuple[str, str]]


class CaseCache:
    """Compiled cases (and their Tracr models), compiled once per run.

    ``interpbench_dir``: a local copy of InterpBench's models for ``interpbench`` folders (default
    ``$INTERPBENCH_DIR``, else the hub). IOI folders (``case_ioi``, ``case_ioi_next_token``) use the
    stored IOI model (``models_root`` / ``run`` / ``siit_{run}``) and the IOI truth and data.
    """

    def __init__(self, device: str = "cpu", interpbench_dir: Optional[str] = None):
        self.device = device
        self.interpbench_dir = interpbench_dir
        self._compiled: dict[str, Any] = {}
        self._models: dict[tuple, Any] = {}
        self._graphs: dict[tuple, ComputationalGraph] = {}
        self._subjects: dict[tuple, Any] = {}

    def subject(self, model_name: str, case_id: str, models_root: Optional[str] = None, run: Optional[str] = None) -> Any:
        """The ``models.Subject`` of an IOI folder (loaded once)."""
        from circuits_benchmark.models import load_subject, parse_model_label

        key = (model_name, case_id, models_root, run)
        if key not in self._subjects:
            kind, folder_run = parse_model_label(model_name)
            self._subjects[key] = load_subject(case_id, kind, folder_run or run, models_root, self.device)
        return self._subjects[key]

    def truth(self, model_name: str, case_id: str, graph: ComputationalGraph, truth_ablation: str,
              models_root: Optional[str] = None, run: Optional[str] = None) -> Circuit:
        """The true circuit of a folder's model on ``graph``, the one ``truth_ablation`` defines
        (``truth_ablation_for``; IOI has one truth)."""
        from circuits_benchmark.models import is_ioi

        if is_ioi(case_id):
            return self.subject(model_name, case_id, models_root, run).truth(graph)
        return self.get(case_id).true_circuit(graph, truth_ablation)

    def task(self, model_name: str, case_id: str, n_examples: int, seed: int, models_root: Optional[str] = None,
             run: Optional[str] = None) -> Any:
        """The task data of a folder's model."""
        from circuits_benchmark.models import is_ioi
        from circuits_benchmark.tasks import task_from_case

        if is_ioi(case_id):
            return self.subject(model_name, case_id, models_root, run).task(n_examples, seed)
        return task_from_case(self.get(case_id), n_examples, seed,
                              model=self.model(model_name, case_id, models_root, run))

    def get(self, case_id: str) -> Any:
        if case_id not in self._compiled:
            from circuits_benchmark.cases import get_case
            from circuits_benchmark.cases.compiled import compile_case

            self._compiled[case_id] = compile_case(get_case(case_id), device=self.device)
        return self._compiled[case_id]

    def model(self, model_name: str, case_id: str, models_root: Optional[str] = None, run: Optional[str] = None) -> Any:
        """The model behind results folder ``model_name`` for ``case_id`` (see :func:`load_model`), loaded once."""
        from circuits_benchmark.models import is_ioi

        key = (model_name, case_id, models_root, run)
        if key not in self._models:
            if is_ioi(case_id):
                self._models[key] = self.subject(model_name, case_id, models_root, run).model
            else:
                self._models[key] = load_model(model_name, self.get(case_id), models_root, run, device=self.device,
                                               interpbench_dir=self.interpbench_dir)
        return self._models[key]

    def graph(self, model_name: str, case_id: str, models_root: Optional[str] = None,
              run: Optional[str] = None) -> ComputationalGraph:
        """That model's computational graph: what a circuit file of this folder must match."""
        key = (model_name, case_id, models_root, run)
        if key not in self._graphs:
            self._graphs[key] = ComputationalGraph.from_model(self.model(model_name, case_id, models_root, run))
        return self._graphs[key]


def load_model(model_name: str, compiled: Any, models_root: Optional[str] = None, run: Optional[str] = None,
               device: Optional[str] = None, interpbench_dir: Optional[str] = None) -> Any:
    """The HookedTransformer behind a results folder name: ``tracr``, ``siit``, ``siit_{run}``, ``interpbench``
    (InterpBench's published model: from ``interpbench_dir`` / ``$INTERPBENCH_DIR``, else the hub)."""
    if model_name == "tracr":
        return compiled.model
    from circuits_benchmark.models import interpbench_dir as local_interpbench, load_model_for_study

    case_id = compiled.case.case_id
    if model_name == "interpbench":
        return load_model_for_study(case_id, "interpbench", None, local_interpbench(interpbench_dir),
                                    device or "cpu")[1]
    if model_name == "siit" or model_name.startswith(("siit_", "siit-")):
        run_name = model_name[5:] if len(model_name) > 4 else run
        return load_model_for_study(case_id, "siit", run_name, models_root, device or "cpu")[1]
    raise ValueError(f"unknown model folder {model_name!r}: expected tracr, siit, siit_{{run}} or interpbench")


def read_for_model(cf: CircuitFile, graph: ComputationalGraph) -> Circuit:
    """Read ``cf`` against its model's ``graph``; refuses (CircuitFileError) a file of another model
    (cfg or node / edge names differ), a malformed file or one with non-finite scores."""
    try:
        return cf.read(graph)
    except CircuitModelMismatchError as err:
        raise CircuitModelMismatchError(
            f"refused: not a circuit of case {cf.case_id}'s {cf.model} model ({graph.n_nodes} nodes, "
            f"{graph.n_edges} edges): {err}") from err
    except CircuitFileError as err:
        raise CircuitFileError(f"refused: {err}") from err


def _base_row(cf: CircuitFile) -> dict:
    return {**cf.key, "runtime_s": runtime_of(cf.meta), "file": str(cf.path)}


def auroc_rows(files: Sequence[CircuitFile], truth_ablation: Optional[str] = None,
               plots_dir: Optional[Path] = None, cases: Optional[CaseCache] = None,
               progress: bool = True, models_root: Optional[str] = None,
               run: Optional[str] = None) -> tuple[list[dict], Errors]:
    """One row per circuit file with every AUROC (see ``auroc_report``); ROC pictures if ``plots_dir``.

    Each file is checked against its folder's model (``models_root`` / ``run`` locate SIIT models).
    """
    cases = cases or CaseCache()
    rows: list[dict] = []
    errors: Errors = []
    for cf in tqdm(files, desc="auroc", disable=not progress or len(files) < 2):
        try:
            circuit = read_for_model(cf, cases.graph(cf.model, cf.case_id, models_root, run))
            t_abl = truth_ablation or truth_ablation_for(cf.ablation, cf.model)
            truth = cases.truth(cf.model, cf.case_id, circuit.graph, t_abl, models_root, run)
            head_level = cf.model != "tracr"
            report = auroc_report(circuit, truth, head_level_truth=head_level)
            rows.append({**_base_row(cf), "truth_ablation": t_abl,
                         "truth_level": "head" if head_level else "edge", "n_edges": circuit.graph.n_edges,
                         "n_true_edges": truth.n_edges, **report})
            if plots_dir is not None:
                level = "head" if head_level else "edge"
                curves = {"rank": rank_auroc(circuit, truth, level), "mib": mib_auroc(circuit, truth, level)}
                plot_roc(curves, Path(plots_dir) / cf.model / f"case_{cf.case_id}" / f"{cf.path.stem}_roc.png",
                         title=f"{cf.method} on case {cf.case_id} ({cf.model})")
        except (DegenerateTruthError, ValueError, FileNotFoundError, KeyError) as err:
            errors.append((str(cf.path), f"{type(err).__name__}: {err}"))
    return rows, errors


def faithfulness_rows(files: Sequence[CircuitFile], metric: Optional[str] = None, ablation: Optional[str] = None,
                      n_examples: int = 32, seed: int = 0, rounding: str = "floor",
                      fractions: Sequence[float] = FRACTIONS, models_root: Optional[str] = None,
                      run: Optional[str] = None, plots_dir: Optional[Path] = None,
                      cases: Optional[CaseCache] = None, batch_size: int = 16,
                      progress: bool = True) -> tuple[list[dict], Errors]:
    """One row per circuit file: CPR, CMD and both f curves; curve pictures if ``plots_dir``.

    The evaluation ablation is ``ablation`` or the file's (``optimal`` -> ``patching``).
    """
    cases = cases or CaseCache()
    tasks: dict[tuple[str, str], Any] = {}
    rows: list[dict] = []
    errors: Errors = []
    for cf in tqdm(files, desc="faithfulness", disable=not progress or len(files) < 2):
        try:
            key = (cf.model, cf.case_id)
            if key not in tasks:
                tasks[key] = cases.task(cf.model, cf.case_id, n_examples, seed, models_root, run)
            task = tasks[key]
            circuit = read_for_model(cf, task.graph())
            eval_ablation = ablation or eval_ablation_for(cf.ablation)
            level = "node" if cf.level == "node" and circuit.node_scores is not None else "edge"
            with torch.no_grad():
                result = faithfulness_curves(task, circuit, metric, eval_ablation, fractions, rounding, level,
                                             circuits_per_batch=batch_size, progress=False)
            rows.append({**_base_row(cf), "metric": result.metric, "eval_ablation": eval_ablation,
                         "eval_level": level, "rounding": rounding, "cpr": result.cpr, "cmd": result.cmd,
                         "m_full": result.m_full, "m_empty": result.m_empty, "fractions": list(fractions),
                         "f_signed": result.signed.faithfulness, "f_abs": result.absolute.faithfulness,
                         "n_edges_signed": result.signed.n_edges, "n_edges_abs": result.absolute.n_edges,
                         "weighted_edges_abs": result.absolute.weighted_edge_counts})
            if plots_dir is not None:
                plot_faithfulness(result, Path(plots_dir) / cf.model / f"case_{cf.case_id}" / f"{cf.path.stem}_faithfulness.png",
                                  title=f"{cf.method} on case {cf.case_id} ({cf.model})")
        except (ValueError, FileNotFoundError, KeyError) as err:
            errors.append((str(cf.path), f"{type(err).__name__}: {err}"))
    return rows, errors
