"""A task whose corrupted inputs cannot change any answer is flagged, not silently scored."""

from __future__ import annotations

import warnings

import pytest

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case
from circuits_benchmark.tasks import PatchingTask, UninformativeTaskWarning, task_from_case


def test_pairs_that_keep_every_answer_say_so():
    # corrupted inputs that are the clean ones reversed in batch order, with one class only: every answer is kept
    informative = task_from_case(compile_case(get_case("89")), 32)
    same_class = informative.clean_logits[:, -1].argmax(-1) == informative.clean_logits[0, -1].argmax(-1)
    clean = informative.clean_tokens[same_class]
    assert len(clean) >= 4
    with pytest.warns(UninformativeTaskWarning, match="same answers"):
        task = PatchingTask(informative.model, clean, clean.flip(0), informative.positions[same_class], True,
                            informative.clean_mask[same_class], informative.corrupted_mask[same_class].flip(0))
    assert task.same_answers()


@pytest.mark.parametrize("case_id", ["3", "1"])  # numerical, categorical
def test_an_informative_task_does_not_warn(case_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UninformativeTaskWarning)
        task = task_from_case(compile_case(get_case(case_id)), 16)
    assert not task.same_answers()
