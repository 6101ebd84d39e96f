"""Benchmark cases: RASP programs with data generators, compiled to HookedTransformers."""

from circuits_benchmark.cases.base import CaseDataset, TracrCase
from circuits_benchmark.cases.registry import (
    UnknownCaseError,
    all_cases,
    case_ids,
    get_case,
    tracr_case,
)

__all__ = [
    "CaseDataset",
    "TracrCase",
    "UnknownCaseError",
    "all_cases",
    "case_ids",
    "get_case",
    "tracr_case",
]
