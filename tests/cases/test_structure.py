"""Each case's RASP graph is pinned: a later edit cannot change a case silently.

`tests/cases/data/structures.json` holds every case's canonical structure (node types, encodings,
Select comparisons, Aggregate defaults, argument order; see `cases/structure.py`), its vocabulary,
length, causal flag and output type. They were checked node by node against InterpBench's case files
with `scripts/compare_upstream_cases.py`. After a deliberate change, regenerate the file with
`python tests/cases/test_structure.py --write` and say why in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from circuits_benchmark.cases import all_cases, get_case
from circuits_benchmark.cases.structure import canonical_structure

DATA = Path(__file__).parent / "data" / "structures.json"
INTERP_BENCH_IDS = [str(i) for i in range(1, 132) if i not in (16, 27)]


def describe(case) -> dict:
    return {
        "structure": canonical_structure(case.build_program()).splitlines(),
        "vocab": sorted(map(repr, case.vocab)),
        "max_seq_len": case.max_seq_len,
        "causal": case.causal,
        "output": case.output_kind,
        "custom_sampler": case.generator is not None,
    }


def _pinned() -> dict:
    return json.loads(DATA.read_text())


def test_registered_cases_are_interp_bench_cases():
    assert [c.case_id for c in all_cases()] == INTERP_BENCH_IDS


@pytest.mark.parametrize("case_id", INTERP_BENCH_IDS)
def test_case_structure_is_pinned(case_id):
    assert describe(get_case(case_id)) == _pinned()[case_id]


def test_structure_string_tells_programs_apart():
    from tracr.rasp import rasp

    def program(query, key):
        select = rasp.Select(key, query, rasp.Comparison.EQ)
        return rasp.Aggregate(select, rasp.tokens)

    swapped = canonical_structure(program(rasp.tokens, rasp.indices))
    assert swapped != canonical_structure(program(rasp.indices, rasp.tokens))
    numerical = rasp.numerical(rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ),
                                              rasp.numerical(rasp.Map(lambda t: t == "x", rasp.tokens)), default=0))
    categorical = rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ),
                                 rasp.Map(lambda t: t == "x", rasp.tokens))
    assert canonical_structure(numerical) != canonical_structure(categorical)


if __name__ == "__main__" and "--write" in sys.argv:
    data = {case_id: describe(get_case(case_id)) for case_id in INTERP_BENCH_IDS}
    DATA.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(data)} cases to {DATA}")
