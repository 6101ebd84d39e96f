"""The manifest of a model store: one row per stored model, from its meta file (CSV and markdown).

Columns: case, LL shape, parameters, epochs, seconds, how the run ended, and the quality gate's
numbers on 1,000 fresh pairs (IIA, strict accuracy, accuracy, accuracy with everything outside the
circuit ablated at once), whether the model passes the gate, whether it reaches the sufficiency target,
and for a failing model where it falls short (the metrics below 99%, with the weakest node).
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from pathlib import Path
from typing import Any, Optional

from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN
from circuits_benchmark.utils.atomic import write_text
from circuits_benchmark.utils.ordering import case_sort_key

COLUMNS = ("case", "run", "n_layers", "n_heads", "d_model", "d_head", "d_mlp", "n_params", "epochs", "best_epoch",
           "seconds", "stop_reason", "iia", "strict_accuracy", "accuracy", "circuit_accuracy", "passed", "sufficient",
           "shortfall", "discarded_seconds")


def shortfall(gate: dict[str, Any], threshold: float = 0.99) -> str:
    """Why a model fails the gate, in words: each metric below the threshold, with the weakest HL node
    (IIA) or outside node (strict accuracy) where the gate recorded it. Empty for a passing model."""
    parts = []
    weakest_hl, weakest_out = gate.get("weakest_hl_node"), gate.get("weakest_outside_node")
    if gate.get("iia", 1.0) < threshold:
        detail = f" (weakest node {weakest_hl['name']}: {_pct2(weakest_hl['rate'])}%)" if weakest_hl else ""
        parts.append(f"IIA {_pct2(gate['iia'])}%{detail}")
    if gate.get("strict_accuracy", 1.0) < threshold:
        detail = (f" ({_component(weakest_out['name'])} ablated alone leaves {_pct2(weakest_out['rate'])}%)"
                  if weakest_out else "")
        parts.append(f"strict {_pct2(gate['strict_accuracy'])}%{detail}")
    if gate.get("accuracy", 1.0) < threshold:
        parts.append(f"accuracy {_pct2(gate['accuracy'])}%")
    return "; ".join(parts)


def _component(name: str) -> str:
    """`blocks.1.attn.hook_result[3]` -> `a1.h3`, `blocks.1.hook_mlp_out` -> `m1` (the graph's node names)."""
    match = re.fullmatch(r"blocks\.(\d+)\.attn\.hook_(?:result|z)\[(\d+)\]", name)
    if match:
        return f"a{match[1]}.h{match[2]}"
    match = re.fullmatch(r"blocks\.(\d+)\.hook_mlp_out", name)
    return f"m{match[1]}" if match else name


def manifest_rows(root: Path | str = DEFAULT_ROOT, run: str = DEFAULT_RUN) -> list[dict[str, Any]]:
    """One row per `{root}/{case}/meta_{run}.json` that holds a gate result, ordered by case id."""
    rows = []
    for meta_path in Path(root).glob(f"*/meta_{run}.json"):
        meta = json.loads(meta_path.read_text())
        gate = meta.get("gate") or {}
        shape = meta.get("ll_shape") or {}
        if not gate:
            continue
        rows.append({
            "case": meta_path.parent.name, "run": run, **{k: shape.get(k) for k in COLUMNS[2:7]},
            "n_params": meta.get("n_params"), "epochs": meta.get("epochs_run"), "best_epoch": meta.get("best_epoch"),
            "seconds": meta.get("seconds"), "stop_reason": meta.get("stop_reason", ""),
            **{k: gate.get(k) for k in ("iia", "strict_accuracy", "accuracy", "circuit_accuracy", "passed",
                                        "sufficient")},
            "shortfall": shortfall(gate), "discarded_seconds": meta.get("discarded_seconds", 0.0),
        })
    return sorted(rows, key=lambda r: case_sort_key(r["case"]))


def _pct2(value: float) -> str:
    """Two decimals: a shortfall such as 98.99% must not read as 99.0%."""
    return f"{100 * value:.2f}"


def _pct(value: Optional[float]) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def training_time(rows: list[dict[str, Any]]) -> str:
    """One line on the time the stored models took to train (every chunk of each, one CPU thread each)."""
    seconds = [float(r["seconds"]) for r in rows]
    if not seconds:
        return "No model is stored."
    passed = [float(r["seconds"]) for r in rows if r["passed"]]
    line = (f"Training time, all chunks of each model on one CPU thread: {sum(seconds) / 3600:.1f} h in all, "
            f"median {statistics.median(seconds):.0f} s per model")
    if passed:
        line += f" ({statistics.median(passed):.0f} s for the models that pass)"
    discarded = sum(float(r.get("discarded_seconds") or 0.0) for r in rows)
    if discarded:
        line += f"; plus {discarded / 3600:.1f} h of runs that restarts replaced"
    return line + "."


def markdown(rows: list[dict[str, Any]]) -> str:
    """The manifest as a markdown table with a summary line."""
    passed = [r for r in rows if r["passed"]]
    sufficient = [r for r in rows if r["passed"] and r["sufficient"]]
    lines = [
        f"{len(rows)} models; {len(passed)} pass the gate (IIA, strict accuracy and accuracy >= 99% on 1,000 "
        f"fresh pairs); {len(sufficient)} of those also keep >= 95% accuracy with every node outside the "
        "circuit resample-ablated at once (`outside ablated`).",
        "",
        training_time(rows),
        "",
        "| case | layers x heads | d_model | params | epochs | seconds | ended by | IIA % | strict % | accuracy % "
        "| outside ablated % | gate | >= 95% | short of the gate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['n_layers']} x {r['n_heads']} | {r['d_model']} | {r['n_params']} | {r['epochs']} "
            f"| {r['seconds']:.0f} | {r['stop_reason']} | {_pct(r['iia'])} | {_pct(r['strict_accuracy'])} "
            f"| {_pct(r['accuracy'])} | {_pct(r['circuit_accuracy'])} | {'pass' if r['passed'] else 'FAIL'} "
            f"| {'yes' if r['sufficient'] else 'no'} | {r['shortfall']} |")
    return "\n".join(lines) + "\n"


def write_manifest(root: Path | str = DEFAULT_ROOT, run: str = DEFAULT_RUN) -> tuple[Path, Path]:
    """Write `{root}/manifest_{run}.csv` and `{root}/MANIFEST_{run}.md`; returns both paths."""
    rows = manifest_rows(root, run)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    csv_path, md_path = Path(root) / f"manifest_{run}.csv", Path(root) / f"MANIFEST_{run}.md"
    write_text(csv_path, buffer.getvalue())
    write_text(md_path, markdown(rows))
    return csv_path, md_path
