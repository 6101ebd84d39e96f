"""Fixtures for the graph / patching tests."""

from __future__ import annotations

import pytest
import torch

from circuits_benchmark.graph import ComputationalGraph

from graph_test_models import BATCH, D_VOCAB, MODEL_SPECS, SEQ, make_model


@pytest.fixture(scope="module", params=list(MODEL_SPECS))
def model_and_graph(request):
    model = make_model(request.param)
    return model, ComputationalGraph.from_model(model)


@pytest.fixture(scope="module")
def tokens():
    gen = torch.Generator().manual_seed(1)
    clean = torch.randint(0, D_VOCAB, (BATCH, SEQ), generator=gen)
    corrupted = torch.randint(0, D_VOCAB, (BATCH, SEQ), generator=gen)
    return clean, corrupted


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny models run far faster on one thread (and do not fight over a busy CPU)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def pytest_collection_modifyitems(config, items):
    """Skip this folder's ``slow`` tests unless a ``-m`` expression is given or RUN_SLOW=1."""
    import os
    from pathlib import Path

    if config.getoption("-m") or os.environ.get("RUN_SLOW") == "1":
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="slow: run with -m slow or RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords and here in Path(str(item.fspath)).parents:
            item.add_marker(skip)
