"""The shipped SIIT models (circuits_benchmark/siit_models) load and behave as their manifest says.

A fast check per model on a small fresh sample catches a broken file, config or loader; one model's
manifest row is reproduced exactly by `main.py eval iit`, which uses the gate's pairs and seed.
"""

from __future__ import annotations

import csv

import pytest

from circuits_benchmark.cli import main as cli_main
from circuits_benchmark.training import evaluate_model, load_ll_model
from circuits_benchmark.training.store import DEFAULT_RUN, SHIPPED_ROOT

MANIFEST = SHIPPED_ROOT / f"manifest_{DEFAULT_RUN}.csv"
SAMPLE = 100
TOLERANCE = 0.1
"""A fresh sample of SAMPLE pairs may differ from the manifest's 1,000-pair numbers by this much."""


def _rows() -> list[dict[str, str]]:
    with open(MANIFEST) as f:
        return list(csv.DictReader(f))


def test_manifest_lists_the_shipped_models():
    rows = _rows()
    assert rows, "no shipped model"
    # every stored model (a folder with its meta file, written last) is in the manifest and vice versa
    stored = sorted(p.parent.name for p in SHIPPED_ROOT.glob(f"*/meta_{DEFAULT_RUN}.json"))
    assert sorted(r["case"] for r in rows) == stored
    for r in rows:
        assert (r["passed"] == "True") == all(float(r[k]) >= 0.99 for k in ("iia", "strict_accuracy", "accuracy"))


@pytest.mark.parametrize("row", _rows() if MANIFEST.exists() else [], ids=lambda r: r["case"])
def test_shipped_model_matches_its_manifest_row(row):
    stored = load_ll_model(row["case"], DEFAULT_RUN, SHIPPED_ROOT, device="cpu")
    cfg = stored.cfg
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model) == (int(row["n_layers"]), int(row["n_heads"]), int(row["d_model"]))
    assert cfg.n_layers >= 2 and cfg.n_heads >= 4  # InterpBench's shape: nodes outside the circuit exist
    if row["case"].startswith("ioi"):
        from circuits_benchmark.ioi.train import config_from_meta, evaluate_ioi_model

        metrics = evaluate_ioi_model(stored.model, config_from_meta(stored.meta), n=SAMPLE, seed=7)
    else:
        metrics = evaluate_model(row["case"], stored.model, n=SAMPLE, seed=7)
    for key in ("iia", "accuracy"):
        assert abs(metrics[key] - float(row[key])) <= TOLERANCE, (key, metrics[key], row[key])


def test_eval_iit_reproduces_a_manifest_row(capsys):
    row = next(r for r in _rows() if r["case"] == "3")
    assert cli_main(["eval", "iit", "-i", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for label, key in (("IIA", "iia"), ("strict accuracy", "strict_accuracy"), ("accuracy", "accuracy"),
                       ("accuracy, all non-circuit ablated", "circuit_accuracy")):
        assert f"{label:38s}{float(row[key]):.2%}" in out, (label, out)


def test_a_model_failing_the_gate_warns_when_used_as_ground_truth():
    import warnings

    from circuits_benchmark.models import GateWarning, load_model_for_study

    rows = _rows()
    failing = next(r["case"] for r in rows if r["passed"] != "True")
    passing = next(r["case"] for r in rows if r["passed"] == "True")
    with pytest.warns(GateWarning, match=f"case {failing} fails the quality gate"):
        load_model_for_study(failing, "siit", device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GateWarning)
        load_model_for_study(passing, "siit", device="cpu")
