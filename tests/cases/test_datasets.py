"""Every case's clean/corrupted pairs are informative: patching (and interchange training) needs
pairs whose answers differ."""

from __future__ import annotations

import pytest

from circuits_benchmark.cases import all_cases, get_case

MIN_DIFFERING_PAIRS = 0.25


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.case_id)
def test_a_fair_share_of_pairs_have_different_outputs(case):
    data = case.dataset(64, seed=0)
    differing = sum(a != b for a, b in zip(data.clean_outputs, data.corrupted_outputs)) / len(data)
    assert differing >= MIN_DIFFERING_PAIRS, f"only {differing:.0%} of pairs change the program's output"


def test_balanced_samplers_mix_the_classes():
    # a half-and-half sampler must not put all of one class first: clean and corrupted are paired by index
    labels = [out[-1] for out in get_case("89").dataset(200, seed=0).clean_outputs]
    assert labels[:100].count(1) not in (0, 100)
    assert 0.4 <= labels.count(1) / len(labels) <= 0.6  # still balanced
