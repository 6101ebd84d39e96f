"""Fixtures for the evaluation tests: one thread, a compiled small Tracr case and its task."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def case3():
    """Case 3 (numerical, 2 layers x 1 head): compiled model and its 16-example patching task."""
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.tasks import task_from_case

    torch.set_num_threads(1)
    compiled = compile_case(get_case("3"))
    return compiled, task_from_case(compiled, n_examples=16, seed=0)


@pytest.fixture(scope="session")
def case2():
    """Case 2 (categorical, 3 layers x 1 head): compiled model and its 8-example patching task."""
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.tasks import task_from_case

    torch.set_num_threads(1)
    compiled = compile_case(get_case("2"))
    return compiled, task_from_case(compiled, n_examples=8, seed=0)
