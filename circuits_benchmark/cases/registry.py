"""The registry of benchmark cases: `tracr_case` registers, `get_case` looks up."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Iterable, Optional

from tracr.rasp import rasp

from circuits_benchmark.cases.base import InputGenerator, TracrCase
from circuits_benchmark.utils.ordering import case_sort_key

_CASES: dict[str, TracrCase] = {}
_LOADED = False


class UnknownCaseError(KeyError):
    """Raised for a case id that is not registered; the message lists the valid ids."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def tracr_case(
    case_id: str,
    description: str,
    vocab: Iterable[Any],
    max_seq_len: int,
    generator: Optional[InputGenerator] = None,
    min_seq_len: Optional[int] = None,
    causal: bool = True,
) -> Callable[[Callable[[], rasp.SOp]], Callable[[], rasp.SOp]]:
    """Decorator registering a function that builds a RASP program as benchmark case `case_id`."""

    def register(build: Callable[[], rasp.SOp]) -> Callable[[], rasp.SOp]:
        if case_id in _CASES:
            raise ValueError(f"case id {case_id!r} registered twice ({build.__module__})")
        _CASES[case_id] = TracrCase(
            case_id=case_id,
            description=description,
            build_program=build,
            vocab=frozenset(vocab),
            max_seq_len=max_seq_len,
            generator=generator,
            min_seq_len=min_seq_len,
            causal=causal,
            source_module=build.__module__,
        )
        return build

    return register


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    from circuits_benchmark.cases import programs

    for info in pkgutil.iter_modules(programs.__path__):
        importlib.import_module(f"{programs.__name__}.{info.name}")
    _LOADED = True


def all_cases() -> list[TracrCase]:
    """Every registered case, ordered by id (numeric ids first)."""
    _load_all()
    return [_CASES[k] for k in sorted(_CASES, key=case_sort_key)]


def case_ids() -> list[str]:
    return [c.case_id for c in all_cases()]


def get_case(case_id: str) -> TracrCase:
    """The case with this id; an unknown id raises `UnknownCaseError` listing the valid ones."""
    _load_all()
    key = str(case_id)
    if key not in _CASES:
        hint = (" (the IOI task is not a Tracr case: `main.py train ioi` trains its model, and `-i ioi` works "
                "with `run`, `eval iit` and the eval commands)") if key.lower() in ("ioi", "ioi_next_token") else ""
        raise UnknownCaseError(
            f"unknown case id {key!r}{hint}; valid ids: {', '.join(case_ids())}"
        )
    return _CASES[key]
