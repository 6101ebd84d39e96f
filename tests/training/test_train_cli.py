"""`train iit`, `train ioi` and `eval iit` parsers (registered here the way cli.py will register them)."""

import argparse

import pytest

from circuits_benchmark.commands import eval_iit, train
from circuits_benchmark.training.store import DEFAULT_ROOT


def _main(argv):
    parser = argparse.ArgumentParser(prog="main.py")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parser(sub)
    eval_iit.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="main.py")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parser(sub)
    return parser.parse_args(argv)


def test_train_iit_defaults_are_siit():
    args = _parse(["train", "iit", "-i", "3"])
    assert (args.model_pair, args.iit_weight, args.strict_weight, args.behavior_weight) == ("strict", 1.0, 0.4, 1.0)
    assert args.early_stop and not args.wandb and args.output_dir == str(DEFAULT_ROOT) and DEFAULT_ROOT.name == "siit_models"
    args = _parse(["train", "iit", "-i", "3", "-iit", "0.5", "-s", "0", "-b", "2", "--model-pair", "iit",
                   "--no-early-stop", "--d-model", "16"])
    assert (args.iit_weight, args.strict_weight, args.behavior_weight, args.model_pair) == (0.5, 0.0, 2.0, "iit")
    assert not args.early_stop and args.d_model == 16


def test_train_then_eval(tmp_path, capsys, case3):
    rc = _main(["train", "iit", "-i", "3", "--epochs", "1", "--n-train", "128", "--n-test", "32",
                "--device", "cpu", "--output-dir", str(tmp_path), "--no-progress"])
    assert rc == 0
    assert (tmp_path / "3" / "ll_model_510.pth").exists()
    out = capsys.readouterr().out
    assert "case 3 [run 510]: 1 epochs" in out and "ended by epoch limit (1)" in out and "FAILS the gate" in out
    assert (tmp_path / "MANIFEST_510.md").exists() and (tmp_path / "manifest_510.csv").exists()
    assert _main(["eval", "iit", "-i", "3", "--root", str(tmp_path), "-n", "64", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for label in ("IIA", "strict accuracy", "accuracy", "all non-circuit ablated"):
        assert label in out


def test_eval_missing_model(tmp_path):
    with pytest.raises(FileNotFoundError):
        _main(["eval", "iit", "-i", "3", "--root", str(tmp_path), "--device", "cpu"])


def test_eval_subparser_can_join_an_existing_eval_command():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    ev = sub.add_parser("eval").add_subparsers(dest="eval_command")
    eval_iit.add_subparser(ev)
    assert parser.parse_args(["eval", "iit", "-i", "3", "--run", "7"]).run == "7"
