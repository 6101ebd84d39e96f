"""The order case ids are listed in: numeric ids by value (2 before 10), then named ones (ioi)."""

from __future__ import annotations


def case_sort_key(case_id: str) -> tuple:
    """Sort key of a case id: numeric ids first, by value, then the others by name."""
    return (0, int(case_id), "") if case_id.isdigit() else (1, 0, case_id)
