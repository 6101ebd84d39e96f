"""A task whose corrupted inputs cannot change any answer is flagged, not silently scored."""

from __future__ import annotations

import warnings

import pytest

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case
from circuits_benchmark.tasks import UninformativeTaskWarning, task_from_case


def test_pairs_that_keep_every_answer_say_so():
    # case 5 (shuffle-Dyck-2): its corrupted inputs keep every position's answer
    with pytest.warns(UninformativeTaskWarning, match="same answers"):
        task = task_from_case(compile_case(get_case("5")), 16)
    assert task.same_answers()
    assert (task.clean_logits - task.corrupted_logits)[task.positions].abs().max() > 1e-3  # logits still move


@pytest.mark.parametrize("case_id", ["3", "1"])  # numerical, categorical
def test_an_informative_task_does_not_warn(case_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UninformativeTaskWarning)
        task = task_from_case(compile_case(get_case(case_id)), 16)
    assert not task.same_answers()
