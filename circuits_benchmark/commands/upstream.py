"""Upstream spellings: the options of InterpBench's and MIB's documented commands, accepted by ours.

InterpBench (FlyingPumba/circuits-benchmark: README.md, EXPERIMENTS.md) and MIB's circuit track
(hannamw/MIB-circuit-track: run_attribution.py, run_evaluation.py, print_results.py) name things
differently. Our option names stay the primary ones: ``--help`` shows only them (and points to the
README table). The upstream spellings are argparse aliases of them: hidden arguments writing the
same ``dest`` (``add_alias``), with the same parsing when the meaning is the same (``--lambda-reg``
is ``--lambdas``) or an action translating the value (``--tracr`` is ``--model tracr``, ``-w best``
the stored run). Upstream-only options that change nothing here are accepted and print one
``note:`` line saying what to do instead (``add_note``); those that would change results in a way
we cannot reproduce are refused with that line (``add_refusal``, exit 2). InterpBench's evaluation
names (``eval ioi``, ``gt_node_realism``, ``node_realism``, ``iit_acdc``, ``ioi_acdc``) are mapping
subcommands onto ours (``eval_iit``, ``eval_upstream``).

``ALIASES`` is the one table of them; ``markdown_table()`` renders it for the README section
"Coming from InterpBench / MIB" (a test checks that the README carries exactly this table).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence

README_SECTION = "Coming from InterpBench / MIB"
UPSTREAM_EPILOG = ("InterpBench's and MIB's option spellings are accepted too; see the README section "
                   f"'{README_SECTION}'.")


def note(message: str) -> None:
    """One line on stderr about an upstream option (stdout stays the command's output)."""
    print(f"note: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- ablations
MIB_MEAN_NOTE = ("--ablation mean: ours is the mean at each position (MIB's mean-positional); MIB's mean, "
                 "averaged over positions too, is not available")


def ablation_name(text: str) -> str:
    """An ablation as typed, lower case: ours, or MIB's ``mean-positional`` (see `resolve_ablation`)."""
    return text.strip().lower()


def resolve_ablation(name: Optional[str], mib_style: bool) -> Optional[str]:
    """Our name for an `--ablation` value: MIB's ``mean-positional`` is our (per-position) ``mean``. In a
    MIB-style call (`mib_style`), a plain ``mean`` is MIB's other mean, which we do not have: a note says so."""
    if name == "mean-positional":
        return "mean"
    if name == "mean" and mib_style:
        note(MIB_MEAN_NOTE)
    return name


# --------------------------------------------------------------------------- method names
METHOD_SPELLINGS = {
    "information-flow-routes": "ifr",  # MIB
    "activation-patching": "exact",
    "subnetwork-probing": "sp",
    "uniform-gradient-sampling": "ugs",
    "optimal-ablation": "oa",
}
"""Upstream method names (case-insensitive; MIB's EAP / EAP-IG-inputs / EAP-IG-activations / exact /
UGS are ours up to case) -> our registered method."""

UNSUPPORTED_METHODS = {
    "clean-corrupted": "MIB's clean-corrupted (EAP-IG on the clean and corrupted inputs only) is not implemented "
                       "here; eap-ig-inputs is the nearest (--ig-steps N)",
    "legacy_acdc": "InterpBench's legacy_acdc is its older ACDC implementation; use acdc",
}


def canonical_method(text: str) -> str:
    """Our method name for ``text`` (ours, or an upstream spelling such as ``EAP-IG-inputs``)."""
    from circuits_benchmark.methods import method_names

    names = method_names()
    key = text.strip()
    if key in names:
        return key
    lowered = key.lower()
    if lowered in UNSUPPORTED_METHODS:
        raise argparse.ArgumentTypeError(UNSUPPORTED_METHODS[lowered])
    for candidate in (lowered, lowered.replace("_", "-")):
        if candidate in names:
            return candidate
        if candidate in METHOD_SPELLINGS:
            return METHOD_SPELLINGS[candidate]
    raise argparse.ArgumentTypeError(
        f"unknown method {text!r}; choose from {', '.join(names)} (MIB spellings such as EAP-IG-inputs and "
        f"information-flow-routes are accepted too)")


def method_filter(text: str) -> str:
    """A method name filter: upstream spellings become ours, other names pass unchanged (files may come
    from methods that are not registered here)."""
    try:
        return canonical_method(text)
    except argparse.ArgumentTypeError:
        return text.strip()


# --------------------------------------------------------------------------- argparse actions
class _MessageAction(argparse.Action):
    """An upstream option that answers with a message (see the two subclasses)."""

    def __init__(self, option_strings: Sequence[str], dest: str, message: str = "", **kwargs: Any):
        self.message = message
        super().__init__(option_strings, dest, **kwargs)


class NoteAction(_MessageAction):
    """An upstream option accepted without effect on results: stores its value and prints one line."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        note(f"{option_string}: {self.message}")
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


class RefuseAction(_MessageAction):
    """An upstream option whose effect we cannot reproduce: refused with what to do instead (exit 2)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        parser.error(f"{option_string}: {self.message}")


def add_alias(parser: argparse.ArgumentParser, *flags: str, dest: str, **kwargs: Any) -> None:
    """Upstream spellings of one of our options: another argument writing the same ``dest`` with the same
    parsing, hidden from --help (ours stay the names shown) and with no default of its own."""
    parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def _add_message_flag(parser: argparse.ArgumentParser, flags: Sequence[str], action: type[_MessageAction],
                      message: str, takes_value: bool) -> None:
    dest = "upstream_" + flags[-1].lstrip("-").replace("-", "_")
    parser.add_argument(*flags, dest=dest, action=action, message=message, nargs=None if takes_value else 0,
                        default=None, help=argparse.SUPPRESS)


def add_note(parser: argparse.ArgumentParser, *flags: str, message: str, takes_value: bool = False) -> None:
    """Accept ``flags`` (hidden from --help) and print ``message`` when used."""
    _add_message_flag(parser, flags, NoteAction, message, takes_value)


def add_refusal(parser: argparse.ArgumentParser, *flags: str, message: str, takes_value: bool = True) -> None:
    """Refuse ``flags`` (hidden from --help) with ``message``."""
    _add_message_flag(parser, flags, RefuseAction, message, takes_value)


class SiitWeights(argparse.Action):
    """InterpBench's ``-w / --siit-weights RUN``: the SIIT model of run RUN (``best``: the stored default run)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        setattr(namespace, "model", "siit")
        setattr(namespace, self.dest, None if str(values).lower() == "best" else str(values))


def run_name(text: str) -> Optional[str]:
    """A run name; ``best`` (InterpBench's best weights) is the stored default run (None)."""
    return None if text.strip().lower() == "best" else text.strip()


MIB_LLMS = ("gpt2", "qwen2.5", "gemma2", "llama3")


class MibModels(argparse.Action):
    """MIB's ``--models M``: one of ours (tracr, siit, interpbench); MIB's LLMs are refused with a line."""

    def __init__(self, option_strings: Sequence[str], dest: str, choices_here: Sequence[str] = (),
                 many: bool = False, **kwargs: Any):
        self.choices_here = tuple(choices_here)
        self.many = many
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        names = list(values) if isinstance(values, (list, tuple)) else [values]
        for name in names:
            if name.lower() in MIB_LLMS:
                parser.error(f"{option_string} {name}: MIB's language models are not models of this benchmark "
                             f"(models here: {', '.join(self.choices_here)}); any HookedTransformer runs with "
                             "--checkpoint W.pth --config cfg.json --tokens batches.pt")
            if self.choices_here and name.lower() not in self.choices_here:
                parser.error(f"{option_string}: unknown model {name!r}; choose from {', '.join(self.choices_here)}")
        if self.many:
            setattr(namespace, self.dest, [n.lower() for n in names])
        else:
            if len(names) != 1:
                parser.error(f"{option_string}: one model per command here; run it once per model")
            setattr(namespace, self.dest, names[0].lower())


def add_model_aliases(parser: argparse.ArgumentParser, choices: Sequence[str], mib_models: bool = True) -> None:
    """InterpBench's ``--tracr``, ``--interp-bench``, ``-w/--siit-weights RUN`` and MIB's ``--models``
    for a parser whose ``--model`` picks tracr / siit / interpbench and ``--run`` the SIIT run."""
    add_alias(parser, "--tracr", dest="model", action="store_const", const="tracr")
    add_alias(parser, "--interp-bench", dest="model", action="store_const", const="interpbench")
    add_alias(parser, "-w", "--siit-weights", dest="run", action=SiitWeights)
    if mib_models:
        add_alias(parser, "--models", dest="model", action=MibModels, nargs="+", choices_here=choices)
    add_note(parser, "--load-from-wandb",
             message="models are read from the local store (--models-root, default the shipped "
                     "circuits_benchmark/siit_models); copy a wandb run's ll_model_{run}.pth and "
                     "ll_model_cfg_{run}.pkl into {root}/{case}/ to use it")
    add_note(parser, "--load-wandb-project", "--load-wandb-name", takes_value=True,
             message="wandb runs are not downloaded here; see --load-from-wandb")


def split_cases(values: Optional[Sequence[str]]) -> list[str]:
    """``-i 3,4 5`` -> ["3", "4", "5"] (InterpBench takes commas, MIB spaces)."""
    return [c.strip() for item in (values or []) for c in str(item).split(",") if c.strip()]


def rewrite_argv(argv: list[str]) -> list[str]:
    """Upstream command lines that argparse cannot take as written, made explicit (with a note).

    EXPERIMENTS.md's ``eval ioi_acdc ... threshold 1000.0`` (a bare ``threshold``, which upstream's
    parse_known_args skipped) is read as ``--threshold 1000.0``.
    """
    if argv[:1] == ["run"]:
        _default_model_note(argv)
    if len(argv) < 2 or argv[0] != "eval" or argv[1] not in ("iit_acdc", "ioi_acdc"):
        return argv
    out = list(argv)
    for i in range(2, len(out) - 1):
        if out[i] == "threshold":
            try:
                float(out[i + 1])
            except ValueError:
                continue
            note(f"`threshold {out[i + 1]}` read as `--threshold {out[i + 1]}`")
            out[i] = "--threshold"
    return out


INTERPBENCH_RUN_SPELLINGS = {"--loss-type", "--torch-num-threads", "--lambda-reg", "--threshold", "-t", "--atol",
                             "--data-size", "-o", "--output-dir", "--integrated-grad-steps", "--indices",
                             "--max-num-epochs"}
MODEL_SELECTORS = {"--model", "--models", "--tracr", "--interp-bench", "-w", "--siit-weights", "--checkpoint"}


def _default_model_note(argv: Sequence[str]) -> None:
    """InterpBench's `run` studies the SIIT model unless told otherwise; ours the Tracr model: say so once
    when a `run` written with InterpBench's options picks no model."""
    flags = {a.split("=", 1)[0] for a in argv if a.startswith("-")}
    lowered = [a.lower() for a in argv]
    if flags & INTERPBENCH_RUN_SPELLINGS and not flags & MODEL_SELECTORS and "ioi" not in lowered:
        note("InterpBench's `run` studies the SIIT model unless --tracr is given; here the default is the Tracr "
             "model (--model tracr): add -w best (or --model siit) for InterpBench's default")


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Alias:
    """One row of the README table: where the spelling comes from, the command, theirs, ours, a note."""

    origin: str
    command: str
    upstream: str
    ours: str
    note: str = ""


ALIASES: tuple[Alias, ...] = (
    # which model
    Alias("InterpBench", "run, eval", "`--tracr`", "`--model tracr`", "the compiled Tracr model"),
    Alias("InterpBench", "run, eval", "`-w/--siit-weights RUN`", "`--model siit --run RUN`",
          "`best` = the stored run (510; our training keeps the best epoch); `eval iit`: `--run RUN`"),
    Alias("InterpBench", "run, eval", "`--interp-bench`", "`--model interpbench`",
          "InterpBench's published models from `--interpbench-dir DIR` / `$INTERPBENCH_DIR` (its layout: "
          "`DIR/{case}/ll_model.pth`, `ll_model_cfg.pkl`) or the hub when online (offline: a clear error); "
          "`run` without `-i`: every case"),
    Alias("InterpBench", "run", "default model: the SIIT model", "default: `--model tracr`",
          "add `-w best`; `run` prints a note when a command written with InterpBench's options picks no model. "
          "The eval mappings below default to the SIIT model, as upstream"),
    Alias("InterpBench", "run, eval", "`--load-from-wandb`, `--load-wandb-project/-name`", "`--models-root DIR`",
          "accepted with a note: models are read from the local store"),
    Alias("InterpBench, MIB", "run, eval", "`-i/--indices 1,2`, `--tasks 1 2`", "`-i/--case`",
          "`-i ioi` (`--next-token`: `ioi_next_token`) is our simplified IOI model (`train ioi`); "
          "`run -i all`"),
    # run
    Alias("InterpBench", "run", "`-o/--output-dir DIR`", "`--results-dir DIR`",
          "files `DIR/{model}/case_{id}/{method}_{level}_{ablation}.json` (+ `.meta.json`)"),
    Alias("InterpBench", "run acdc", "`-t/--threshold T`", "`--thresholds T [T ...]`",
          "ACDC at these thresholds (one value = upstream's single run; default: a 20-value sweep)"),
    Alias("InterpBench", "run sp", "`--lambda-reg L`", "`--lambdas L [L ...]`",
          "SP at these regularisations (default 0.01 .. 100); `ugs`: its one `reg_lambda`"),
    Alias("InterpBench", "run sp", "`--loss-type l2`", "`--metric l2`", ""),
    Alias("InterpBench", "run", "`--torch-num-threads N`, `-d DEV`", "`--threads N`, `--device DEV`",
          "0 threads = torch's default (all cores)"),
    Alias("InterpBench, MIB", "run", "`--data-size N`, `--num-examples N`, `--head N`", "`--n-examples N`", ""),
    Alias("InterpBench", "run eap", "`--integrated-grad-steps N`", "`run eap-ig-masks --ig-steps N`",
          "upstream's EAP with integrated gradients interpolates the edge masks (auto-circuit), as eap-ig-masks"),
    Alias("InterpBench", "run sp", "`--atol A`", "(none)",
          "accepted with a note: upstream uses it only for the test accuracy it logs"),
    Alias("InterpBench", "run acdc, eval ioi_acdc", "`--max-num-epochs N`", "(none)",
          "accepted with a note: our ACDC always visits every node"),
    Alias("MIB", "run", "`--method NAME`", "`run NAME`",
          "MIB spellings (any case): EAP, EAP-IG-inputs, EAP-IG-activations, exact, information-flow-routes "
          "(= ifr), UGS; clean-corrupted is refused (not implemented)"),
    Alias("MIB", "run", "`--models M`", "`--model M`",
          "tracr, siit or interpbench; MIB's LLMs (gpt2, qwen2.5, gemma2, llama3) are refused"),
    Alias("MIB", "run, eval auroc / faithfulness", "`--circuit-dir DIR`", "`--results-dir DIR`", "our layout"),
    Alias("MIB", "run, eval faithfulness", "`--ablation mean-positional`", "`--ablation mean`",
          "ours is per position; MIB's `mean` (also over positions) is not available: given in a MIB-style call "
          "(`run --method ...`, `eval faithfulness`), it runs ours and a note says so"),
    Alias("MIB", "run", "`--optimal-ablation-path P` (`--optimal_ablation_path`)", "`--ablation optimal`",
          "refused: our optimal ablation learns its constants during the run"),
    Alias("MIB", "`oa.py --models M --tasks T`", "(precomputes optimal ablations)", "`run oa -i T`",
          "our optimal ablation (method `oa`, or `--ablation optimal`) learns its constants in the run itself"),
    Alias("MIB", "`convert_mask_to_graph.py` (UGS)", "(UGS mask -> graph file)", "`run ugs`",
          "our UGS writes its circuit file (MIB JSON) directly"),
    Alias("MIB", "run, eval", "`--split S`", "`--seed N`",
          "accepted with a note: examples are drawn from `--seed`; another seed gives held-out data"),
    Alias("MIB", "run", "`--batch-size N`", "`--batch-size N`",
          "ours counts circuits per forward pass (speed only)"),
    # eval auroc / faithfulness / print-results
    Alias("MIB", "eval auroc / faithfulness", "`--models`, `--tasks`, `--method`, `--level`",
          "`--model`, `-i`, `--method`, `--level`", "filters of the circuit files (MIB method spellings accepted)"),
    Alias("MIB", "eval auroc / faithfulness", "`--circuit-files F [F ...]`", "`--circuit-files`",
          "files in our layout (`.../{model}/case_{id}/{method}_{level}_{ablation}.json`)"),
    Alias("MIB", "eval auroc / faithfulness", "`--output-dir DIR`", "`--out DIR`", ""),
    Alias("MIB", "eval faithfulness", "`--absolute`", "(always)",
          "accepted with a note: CPR (signed selection) and CMD (absolute selection) come from one run; "
          "MIB's greedy selection for information-flow-routes is not applied (top-n as for every method)"),
    Alias("MIB", "eval print-results", "`--metric cpr|cmd|auroc`, `--output-dir DIR`", "`--metric`, `--eval-dir DIR`",
          ""),
    # train
    Alias("InterpBench", "train iit", "`-iit`, `-s`, `-b`, `--early-stop`, `--model-pair strict`, `--num-samples N`, "
          "`--use-wandb`", "the same, `--n-train N`, `--wandb`", "our wandb logging is offline (`wandb sync` uploads it); "
          "`--save-model-to-wandb`: a note, models stay in `--output-dir`"),
    Alias("InterpBench", "train ioi", "`--save-to-wandb`, `--use-wandb`", "(none)",
          "accepted with a note: the model is saved to `--output-dir`, not uploaded"),
    # eval mappings
    Alias("InterpBench", "eval iit", "`-w best`, `--categorical-metric accuracy|kl_div|kl_div_self`",
          "`--run`, `--categorical-metric`", "kl_div / kl_div_self add upstream's normalised per-node KL "
          "(categorical cases; numerical cases say so)"),
    Alias("InterpBench", "eval ioi", "`eval ioi [--next-token] [--include-mlp]`", "`eval iit -i ioi`", ""),
    Alias("InterpBench", "eval gt_node_realism", "`-i 3 --mean -w best --relative 1`",
          "`eval realism -i 3 --models siit --ablation mean --relative 1`",
          "the score with every node outside the true circuit ablated at once (zero ablation without `--mean`, "
          "as upstream)"),
    Alias("InterpBench", "eval node_realism", "`--algorithm acdc|node_sp|edge_sp|eap`, `-t T`, `--lambda-reg L`",
          "`eval realism --circuit FILE --circuit-threshold V`",
          "the same score for the nodes of the circuit `run` wrote for that method (V: `-t` for acdc / eap, "
          "`--lambda-reg` for sp; default 0.025 / 1.0 as upstream)"),
    Alias("InterpBench", "eval iit_acdc, ioi_acdc", "`-i 2 -w 100 -t 0.0`, `--data-size N`",
          "`run acdc -i 2 --model siit --run 100 --thresholds 0.0`",
          "then the circuit's TPR / FPR against the truth (node, edge, head); EXPERIMENTS.md's bare "
          "`threshold 1000.0` is read as `--threshold 1000.0`; ioi_acdc: `-w/--weights RUN` = `--run RUN`"),
    Alias("InterpBench", "eval *realism", "`-m/--mean`, `--max-len N`, `-o/--output-dir DIR`",
          "`--ablation mean`, `-n N`, `--out DIR`", ""),
    Alias("InterpBench", "eval", "`-wandb/--use-wandb/--using_wandb`, `--batch_size N`, `--use-pos-embed`",
          "(none)", "accepted with a note: results are printed and written to `--out`; the batch is one engine pass; "
          "our graphs always have one input node (token + position)"),
    Alias("InterpBench", "eval", "`--natural`, `--same-size`, `--use-iit-model`", "`-w RUN`",
          "refused with a line: pick such a model by its run name (`train iit --model-pair behavior / --same-size "
          "--run RUN`)"),
)


def markdown_table() -> str:
    """The README table of upstream spellings."""
    lines = ["| from | command | upstream | ours | notes |", "| --- | --- | --- | --- | --- |"]
    for a in ALIASES:
        cells = [a.origin, a.command, a.upstream, a.ours, a.note]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
