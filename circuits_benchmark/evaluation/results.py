"""Finding circuit files, evaluating them in bulk, writing CSV / JSON, printing result tables.

Circuit files live at ``{root}/{model}/case_{id}/{method}_{level}_{ablation}.json`` (or ``.pt``),
with an optional sidecar ``{method}_{level}_{ablation}.meta.json`` (or ``..._meta.json``) holding
the runtime etc.; ``level`` is one of edge / node / neuron and ``ablation`` one of patching / mean /
zero / optimal (method names may contain underscores). ``model`` is ``tracr`` (the compiled Tracr
model), ``siit`` / ``siit_{run}`` (a trained model from the training store) or ``interpbench``
(InterpBench's published models: a local copy, ``--interpbench-dir`` / ``$INTERPBENCH_DIR``, or the
hub). ``case_ioi`` / ``case_ioi_next_token`` hold circuits of the simplified IOI model (its truth
from ``ioi.true_circuit``).

The ground truth of a file is ``compiled.alignment.mib_edges(truth_ablation)`` on the circuit's
graph, where ``truth_ablation`` (``truth_ablation_for``) is the file's ablation (``optimal`` ->
``patching``) for the Tracr model and ``zero`` (every high-level edge) for trained models, unless
overridden. For models other than ``tracr``, the truth is head-level (SIIT trains per head), so
the headline ``auroc`` is the head-level one; for ``tracr`` it is the edge-level one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from circuits_benchmark.graph import Circuit, read_circuit
from circuits_benchmark.utils.atomic import finite_or_none, write_json, write_text
from circuits_benchmark.utils.ordering import case_sort_key

PathLike = Union[str, Path]
DEFAULT_CIRCUITS_DIR = Path("results/circuits")
DEFAULT_EVAL_DIR = Path("results/eval")
LEVEL_NAMES = ("edge", "node", "neuron")
ABLATION_NAMES = ("patching", "mean", "zero", "optimal")
_NAME = re.compile(rf"^(?P<method>.+)_(?P<level>{'|'.join(LEVEL_NAMES)})_(?P<ablation>{'|'.join(ABLATION_NAMES)})$")
_META_SUFFIXES = (".meta.json", "_meta.json")


@dataclass
class CircuitFile:
    """A circuit file and what its path says about it."""

    path: Path
    model: str
    case_id: str
    method: str
    level: str
    ablation: str
    meta: dict = field(default_factory=dict)

    @property
    def key(self) -> dict[str, str]:
        return {"model": self.model, "case": self.case_id, "method": self.method, "level": self.level,
                "ablation": self.ablation}

    def read(self, model_or_graph: Any = None) -> Circuit:
        return read_circuit(self.path, model_or_graph)


def is_meta_file(path: Path) -> bool:
    return path.name.endswith(_META_SUFFIXES) or path.name == "meta.json"


def _meta_for(path: Path) -> dict:
    stem = path.name[: -len(path.suffix)]
    for suffix in _META_SUFFIXES:
        candidate = path.with_name(stem + suffix)
        if candidate.exists():
            try:
                return json.loads(candidate.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"unreadable meta file {candidate}: {err}") from err
    return {}


def parse_circuit_path(path: PathLike) -> CircuitFile:
    """Model, case, method, level and ablation from ``.../{model}/case_{id}/{method}_{level}_{ablation}.json``."""
    path = Path(path)
    case_dir, model_dir = path.parent, path.parent.parent
    if not case_dir.name.startswith("case_"):
        raise ValueError(f"{path}: expected a parent folder case_{{id}}, got {case_dir.name!r}")
    stem = path.name[: -len(path.suffix)]
    match = _NAME.match(stem)
    if not match:
        raise ValueError(f"{path}: file name should be {{method}}_{{level}}_{{ablation}}{path.suffix} with level in "
                         f"{LEVEL_NAMES} and ablation in {ABLATION_NAMES}")
    return CircuitFile(path, model_dir.name, case_dir.name[len("case_"):], match["method"], match["level"],
                       match["ablation"], _meta_for(path))


def find_circuit_files(root: PathLike = DEFAULT_CIRCUITS_DIR, models: Optional[Sequence[str]] = None,
                       cases: Optional[Sequence[str]] = None, methods: Optional[Sequence[str]] = None,
                       on_skip: Optional[Callable[[Path, str], None]] = None) -> list[CircuitFile]:
    """Every circuit file under ``root`` (sorted), optionally filtered; unparsable names are skipped
    (reported through ``on_skip(path, reason)``)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"no results folder {root}")
    found = []
    for path in sorted(list(root.glob("*/case_*/*.json")) + list(root.glob("*/case_*/*.pt"))):
        if is_meta_file(path):
            continue
        try:
            cf = parse_circuit_path(path)
        except ValueError as err:
            if on_skip:
                on_skip(path, str(err))
            continue
        if models and cf.model not in models:
            continue
        if cases and cf.case_id not in cases:
            continue
        if methods and cf.method not in methods:
            continue
        found.append(cf)
    return found


def eval_ablation_for(ablation: str) -> str:
    """The ablation circuits found under ``ablation`` are evaluated with (``optimal`` -> ``patching``)."""
    return "patching" if ablation == "optimal" else ablation


def truth_ablation_for(ablation: str, model: str = "tracr") -> str:
    """The ablation whose true circuit scores circuits found under ``ablation`` on ``model`` (a results
    folder name or model kind: tracr, siit, siit_{run}, interpbench).

    The compiled Tracr model: the circuit's own ablation. Under resample or mean ablation its components
    computed from positions alone are constant, hence their own replacement, and are left out.
    A trained model: every edge the high-level graph implies (the ``zero`` truth), whatever the
    ablation, as InterpBench's ``edges.pkl``. Its position-only components are trained only by
    interchanges that cannot change the output, so nothing keeps them constant, and in 26 of the 118
    shipped models they carry the answer once ablated together (EXPERIMENTS.md section 5).
    """
    if model != "tracr":
        return "zero"
    return eval_ablation_for(ablation)


def runtime_of(meta: dict) -> Optional[float]:
    """The method's runtime recorded in a circuit's sidecar (`main.py run` writes `runtime_seconds`)."""
    for key in ("runtime_seconds", "runtime_s", "runtime", "seconds", "time_s", "elapsed_s"):
        if isinstance(meta.get(key), (int, float)):
            return float(meta[key])
    return None


# ---------------------------------------------------------------------------- writing
def _csv_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ";".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    if value is None:
        return ""
    return value


def write_rows(rows: Sequence[dict], csv_path: PathLike, json_path: Optional[PathLike] = None) -> None:
    """Rows to CSV (lists joined by ``;``) and, if asked, to JSON (full values), each file atomically.

    Undefined numbers (NaN, infinity) are blank in the CSV and ``null`` in the JSON (standard JSON).
    """
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    write_text(csv_path, buffer.getvalue())
    if json_path is not None:
        write_json(json_path, finite_or_none(list(rows)), indent=1, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_rows(json_path: PathLike) -> list[dict]:
    path = Path(json_path)
    if not path.exists():
        raise FileNotFoundError(f"no evaluation results at {path}; run the evaluation first")
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------- tables
def _fmt(value: Optional[float]) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else None


def results_table(rows: Sequence[dict], metric: str) -> tuple[list[str], list[str], dict[tuple[str, str], float]]:
    """Row labels (methods), columns (cases) and cell values (means over duplicates) for ``metric``.

    A row label is the method, plus ``/level`` / ``/ablation`` / `` [model]`` when those vary.
    """
    usable = [r for r in rows if r.get(metric) is not None]
    varies = {k: len({r.get(k) for r in usable}) > 1 for k in ("level", "ablation", "model")}

    def label(r: dict) -> str:
        text = str(r["method"])
        if varies["level"]:
            text += f"/{r.get('level')}"
        if varies["ablation"]:
            text += f"/{r.get('ablation')}"
        if varies["model"]:
            text += f" [{r.get('model')}]"
        return text

    cells: dict[tuple[str, str], list[float]] = {}
    for r in usable:
        cells.setdefault((label(r), str(r["case"])), []).append(float(r[metric]))
    methods = sorted({k[0] for k in cells})
    cases = sorted({k[1] for k in cells}, key=case_sort_key)
    return methods, cases, {k: sum(v) / len(v) for k, v in cells.items()}


def format_results_table(rows: Sequence[dict], metric: str) -> str:
    """Plain-text methods x cases table of ``metric`` with a per-method mean column and a mean row."""
    methods, cases, values = results_table(rows, metric)
    if not methods:
        return f"no results with {metric}"
    header = ["method"] + [f"case {c}" for c in cases] + ["mean"]
    lines = [header]
    for m in methods:
        row_vals = [values.get((m, c)) for c in cases]
        lines.append([m] + [_fmt(v) for v in row_vals] + [_fmt(_mean(row_vals))])
    col_means = [_mean(values.get((m, c)) for m in methods) for c in cases]
    lines.append(["mean"] + [_fmt(v) for v in col_means] + [_fmt(_mean(values.values()))])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(line: list[str]) -> str:
        return "  ".join([line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:])])

    sep = "-" * len(render(header))
    return "\n".join([render(header), sep] + [render(line) for line in lines[1:-1]] + [sep, render(lines[-1])])
