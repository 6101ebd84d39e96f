"""Shared fixtures: a private model cache per test session, so tests never read stale files."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    import os

    os.environ["CIRCUITS_BENCHMARK_CACHE"] = str(tmp_path_factory.mktemp("model_cache"))
