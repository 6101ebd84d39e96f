"""Atomic file writes: every file the project writes goes through a temporary file and `os.replace`.

A write interrupted at any point (Ctrl-C, a killed worker, a full disk, an exception while
serialising) leaves either the previous file or no file, never a truncated one, so a resumed run
never mistakes a partial file for a finished result. The temporary file lives in the target's
folder (`os.replace` is atomic only within one file system), is named `.{name}.{pid}.{random}.tmp`
and is removed when the write fails.

JSON is always standard JSON: `write_json` refuses NaN and infinity (`allow_nan=False`); callers
turn undefined numbers into `null` first (see `finite_or_none`).
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

PathLike = Union[str, Path]

_PENDING: set[Path] = set()  # temporary files being written by this process


def temporary_path(path: PathLike) -> Path:
    """The temporary file a write of `path` goes through (same folder, hidden, unique)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call `write(f)` on a binary file that becomes `path` only once `write` returned.

    The parent folder is created if needed. Returns `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    _PENDING.add(tmp)
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        _PENDING.discard(tmp)
    return path


def remove_pending() -> None:
    """Delete this process's unfinished temporary files (for a process about to be killed)."""
    for tmp in list(_PENDING):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_bytes(path: PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    return write_bytes(path, text.encode(encoding))


def json_text(value: Any, indent: Optional[int] = None, default: Optional[Callable[[Any], Any]] = None) -> str:
    """Standard JSON text of `value`; NaN / infinity raise ValueError naming the problem."""
    try:
        return json.dumps(value, indent=indent, default=default, allow_nan=False)
    except ValueError as err:
        if "Out of range float" in str(err):
            raise ValueError(f"refusing to write NaN or infinity to a JSON file ({err}); "
                             "undefined numbers must be written as null") from err
        raise


def write_json(path: PathLike, value: Any, indent: Optional[int] = None,
               default: Optional[Callable[[Any], Any]] = None) -> Path:
    """`value` as standard JSON (no NaN / Infinity literals), written atomically."""
    return write_text(path, json_text(value, indent, default))


def torch_save(obj: Any, path: PathLike) -> Path:
    """`torch.save(obj, path)`, atomically."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def finite_or_none(value: Any) -> Any:
    """`value` with every NaN / infinite float (also inside lists, tuples and dicts) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value
