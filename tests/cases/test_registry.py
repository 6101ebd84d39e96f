"""The case registry: lookup errors, metadata and seeded datasets."""

import pytest

from circuits_benchmark.cases import UnknownCaseError, all_cases, case_ids, get_case
from circuits_benchmark.tracr_compat import BOS, PAD


def test_cases_are_registered():
    ids = case_ids()
    assert len(ids) >= 1
    assert len(ids) == len(set(ids))


def test_unknown_case_lists_valid_ids():
    with pytest.raises(UnknownCaseError) as err:
        get_case("no-such-case")
    message = str(err.value)
    assert "no-such-case" in message
    assert all(case_id in message for case_id in case_ids())


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.case_id)
def test_case_metadata(case):
    assert case.description and case.max_seq_len >= 1
    assert not {BOS, PAD} & case.vocab
    assert case.is_categorical in (True, False)


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.case_id)
def test_dataset_is_seeded_and_valid(case):
    first, again, other = case.dataset(16, seed=1), case.dataset(16, seed=1), case.dataset(16, seed=2)
    assert first == again
    assert first.clean_inputs != other.clean_inputs or len(case.vocab) ** case.max_seq_len < 50
    assert first.clean_inputs != first.corrupted_inputs
    for x, y in zip(first.clean_inputs, first.clean_outputs):
        assert 0 < len(x) <= case.max_seq_len and set(x) <= case.vocab
        assert len(y) == len(x)
