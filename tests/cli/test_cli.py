"""The command line: case table, errors on bad input, unimplemented subcommands."""

import subprocess
import sys
from pathlib import Path

import pytest

from circuits_benchmark.cases import case_ids
from circuits_benchmark.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_cases_table_lists_every_case(capsys):
    assert main(["cases"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines()[1:] if line.strip() and not line.endswith("cases")]
    assert listed == case_ids()
    assert f"{len(case_ids())} cases" in out


def test_unknown_case_is_a_clear_error(capsys):
    assert main(["compile", "-i", "does-not-exist"]) == 2
    err = capsys.readouterr().err
    assert "unknown case id 'does-not-exist'" in err and "valid ids" in err


def test_cuda_request_without_cuda_is_refused(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    case = case_ids()[0]
    assert main(["compile", "-i", case, "--device", "cuda", "--check", "0"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_main_py_entry_point():
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "cases", "--ids-only"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.split() == case_ids()
