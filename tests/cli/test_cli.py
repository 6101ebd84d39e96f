"""The command line: case table, errors on bad input, unimplemented subcommands."""

import os
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


def test_main_py_runs_as_upstream_writes_it():
    # InterpBench's README calls `./main.py ...`: the script is executable and finds this Python
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["./main.py", "cases", "--ids-only"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == case_ids()


# ---------------------------------------------------------------------------- bad values at the command line
@pytest.mark.parametrize("argv,needle", [
    (["run", "eap", "-i", "3", "--batch-size", "0"], "argument --batch-size: must be a positive integer"),
    (["run", "eap", "-i", "3", "--batch-size", "-5"], "argument --batch-size: must be a positive integer"),
    (["run", "eap", "-i", "3", "--n-examples", "0"], "argument --n-examples: must be a positive integer"),
    (["run", "eap", "-i", "3", "--n-examples", "-3"], "argument --n-examples: must be a positive integer"),
    (["run", "eap-ig-inputs", "-i", "3", "--ig-steps", "0"], "argument --ig-steps: must be a positive integer"),
    (["run", "eap", "-i", "3", "--batch-size", "many"], "expected a positive integer, got 'many'"),
    (["run", "eap", "-i", "3", "--device", "gpu"], "argument --device: unknown device 'gpu'; use cpu, cuda, cuda:N"),
    (["bench", "-n", "0"], "argument -n/--n-examples: must be a positive integer"),
    (["bench", "--workers", "0"], "argument --workers: must be a positive integer"),
    (["bench", "--device", "gpu"], "unknown device 'gpu'"),
    (["eval", "faithfulness", "--batch-size", "0"], "argument --batch-size: must be a positive integer"),
    (["eval", "faithfulness", "-n", "-3"], "argument -n/--n-examples: must be a positive integer"),
    (["eval", "realism", "-i", "3", "--device", "cuda:x"], "unknown device 'cuda:x'"),
    (["eval", "iit", "-i", "3", "-n", "0"], "must be a positive integer"),
    (["train", "iit", "-i", "3", "--epochs", "0"], "argument --epochs: must be a positive integer"),
    (["train", "iit", "-i", "3", "--batch-size", "-5"], "argument --batch-size: must be a positive integer"),
    (["train", "iit", "-i", "3", "--device", "gpu"], "unknown device 'gpu'"),
    (["compile", "-i", "3", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_numbers_and_devices_are_refused_by_the_parser(capsys, argv, needle):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_valid_devices_parse():
    from circuits_benchmark.cli import build_parser

    for device in ("cpu", "cuda", "cuda:1", "CPU"):
        args = build_parser().parse_args(["run", "eap", "-i", "3", "--device", device])
        assert args.device == device.lower()


# ---------------------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("argv,target,resumable", [
    (["bench", "-i", "3", "-m", "exact"], "circuits_benchmark.bench.run_benchmark", True),
    (["train", "iit", "-i", "3"], "circuits_benchmark.training.train_and_store", True),
    (["compile", "-i", "3", "--check", "0"], "circuits_benchmark.commands.compile.compile_case", False),
])
def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys, argv, target, resumable):
    from circuits_benchmark.cli import GENERIC_HINT, RESUME_HINT

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupted)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip() == (RESUME_HINT if resumable else GENERIC_HINT)
    assert "Traceback" not in err
