"""Shared test setup: a private model cache, one torch thread, and opt-in slow tests."""

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled models go to a fresh cache, so tests never read files from an older version."""
    os.environ["CIRCUITS_BENCHMARK_CACHE"] = str(tmp_path_factory.mktemp("model_cache"))


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    """The models under test are tiny: one thread is far faster than several fighting for 2 cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` run only with `-m ...` or RUN_SLOW=1."""
    if config.getoption("-m") or os.environ.get("RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
