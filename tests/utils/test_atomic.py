"""Atomic writes: a write killed midway leaves the previous file (or none), never a truncated one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import circuits_benchmark.utils.atomic as atomic
from circuits_benchmark.graph import Circuit, ComputationalGraph, GraphConfig, read_circuit, write_circuit

ROOT = Path(__file__).resolve().parents[2]


class _DiesMidWrite:
    """A file whose first write stores half the bytes and then 'is killed' (KeyboardInterrupt)."""

    def __init__(self, f):
        self._f = f

    def write(self, data) -> int:
        data = bytes(data)
        self._f.write(data[: max(1, len(data) // 2)])
        self._f.flush()
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


@pytest.fixture()
def killed_mid_write(monkeypatch):
    """Every atomic write in the block is interrupted halfway through writing its bytes."""
    monkeypatch.setattr(atomic, "open", lambda path, mode: _DiesMidWrite(open(path, mode)), raising=False)


@pytest.fixture(scope="module")
def graph():
    return ComputationalGraph.from_model(GraphConfig(n_layers=2, n_heads=2, d_model=4))


def _circuit(graph, seed: int) -> Circuit:
    return Circuit.from_scores(graph, torch.rand(graph.n_edges, generator=torch.Generator().manual_seed(seed),
                                                 dtype=torch.float64))


def _write_rows(path: Path, value: int) -> None:
    from circuits_benchmark.evaluation.results import write_rows

    write_rows([{"a": value, "b": float("nan")}], path.with_suffix(".csv"), path)


def _bench_summary(path: Path, value: int) -> None:
    from circuits_benchmark.bench.runner import BenchConfig, BenchReport, _write
    from circuits_benchmark.evaluation.results import write_rows

    _write(BenchConfig(cases=["3"], methods=["exact"], results_dir=str(path.parent.parent), seed=value),
           BenchReport(), write_rows)


def _plot(path: Path, value: int) -> None:
    from circuits_benchmark.evaluation.auroc import RocResult
    from circuits_benchmark.evaluation.plots import plot_roc

    plot_roc({"x": RocResult(0.5, "rank", "edge", [0, value / 10, 1], [0, 0.5, 1], 1, 1)}, path)


WRITERS = {
    "circuit json": ("c.json", lambda graph, path, v: write_circuit(_circuit(graph, v), path)),
    "circuit pt": ("c.pt", lambda graph, path, v: write_circuit(_circuit(graph, v), path)),
    "result rows": ("rows.json", lambda graph, path, v: _write_rows(path, v)),
    "bench summary": ("eval/bench_tracr_run.json", lambda graph, path, v: _bench_summary(path, v)),
    "meta / any json": ("x.meta.json", lambda graph, path, v: atomic.write_json(path, {"v": v})),
    "plot": ("roc.png", lambda graph, path, v: _plot(path, v)),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_write_killed_midway_keeps_the_previous_file(graph, tmp_path, monkeypatch, name):
    relative, write = WRITERS[name]
    path = tmp_path / relative
    write(graph, path, 1)
    before = path.read_bytes()
    monkeypatch.setattr(atomic, "open", lambda p, mode: _DiesMidWrite(open(p, mode)), raising=False)
    with pytest.raises(KeyboardInterrupt):
        write(graph, path, 2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_killed_first_write_leaves_no_file_so_a_resumed_bench_does_not_skip_it(graph, tmp_path, killed_mid_write):
    path = tmp_path / "tracr" / "case_3" / "exact_edge_patching.json"
    with pytest.raises(KeyboardInterrupt):
        write_circuit(_circuit(graph, 0), path)
    assert not path.exists()  # the bench resumes by existence: this job runs again
    assert list(path.parent.iterdir()) == []


def test_completed_writes_are_complete(graph, tmp_path):
    path = atomic.write_json(tmp_path / "sub" / "x.json", {"a": [1.5, None]})
    assert json.loads(path.read_text()) == {"a": [1.5, None]}
    write_circuit(_circuit(graph, 3), tmp_path / "c.pt")
    assert read_circuit(tmp_path / "c.pt") == _circuit(graph, 3)
    with pytest.raises(ValueError, match="NaN or infinity"):
        atomic.write_json(tmp_path / "nan.json", {"a": float("nan")})
    assert not (tmp_path / "nan.json").exists()
    assert atomic.finite_or_none({"a": [float("inf"), 2.0], "b": float("nan")}) == {"a": [None, 2.0], "b": None}


# A write that bypasses the helper: text/bytes/JSON written straight to a path, or torch.save /
# savefig given a path (through the helper they are given the temporary file object `f`).
_DIRECT = re.compile(r"\.write_text\(|\.write_bytes\(|json\.dump\(|open\([^)]*[\"'][wax]b?\+?[\"']|os\.fdopen\(")
_TO_PATH = re.compile(r"torch\.save\((?!.*\bf\))|savefig\((?!f\b)")


def test_every_writer_of_the_project_goes_through_the_atomic_helper():
    offenders = []
    for path in sorted(list((ROOT / "circuits_benchmark").rglob("*.py")) + list((ROOT / "benchmarks").glob("*.py"))):
        if path.name == "atomic.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if _DIRECT.search(code) or _TO_PATH.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "write through circuits_benchmark.utils.atomic:\n" + "\n".join(offenders)
