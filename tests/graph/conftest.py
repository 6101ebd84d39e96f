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
