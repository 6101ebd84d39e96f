"""Compiled cases shared by the training tests (compiling takes seconds, so once per session)."""

import pytest
import torch

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # tiny models: one thread is much faster than several on a shared machine
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def case3():
    """Numerical case: 2 layers, 1 head; non-circuit nodes a0.h0 and m1 are unused by Tracr."""
    return compile_case(get_case("3"), device="cpu")


@pytest.fixture(scope="session")
def case1():
    """Categorical case: 1 layer, 1 head (both the head and the MLP in the circuit)."""
    return compile_case(get_case("1"), device="cpu")
