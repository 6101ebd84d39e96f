"""Fixtures for the evaluation tests: small compiled Tracr cases and their patching tasks."""

from __future__ import annotations

import pytest


def _compiled_task(case_id: str, n_examples: int):
    from circuits_benchmark.cases import get_case
    from circuits_benchmark.cases.compiled import compile_case
    from circuits_benchmark.tasks import task_from_case

    compiled = compile_case(get_case(case_id))
    return compiled, task_from_case(compiled, n_examples=n_examples, seed=0)


@pytest.fixture(scope="session")
def case3():
    """Case 3 (numerical, 2 layers x 1 head): compiled model and its 16-example patching task."""
    return _compiled_task("3", 16)


@pytest.fixture(scope="session")
def case2():
    """Case 2 (categorical, 3 layers x 1 head): compiled model and its 8-example patching task."""
    return _compiled_task("2", 8)
