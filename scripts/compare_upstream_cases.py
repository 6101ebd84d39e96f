"""Compare every registered case with InterpBench's own case files, node by node.

Usage (from the repository root; needs a checkout or bare clone of
FlyingPumba/circuits-benchmark, which this script never imports into our package):

    python scripts/compare_upstream_cases.py --upstream-git PATH/TO/circuits-benchmark.git
    python scripts/compare_upstream_cases.py --upstream-dir PATH/TO/checkout -i 3 17 42

For every upstream case file `case_N.py` it checks, against our case N:
  * vocabulary, max_seq_len (upstream counts BOS, we do not), causal flag, output type;
  * the canonical graph structure (circuits_benchmark/cases/structure.py);
  * Tracr's inferred value set of every node (this fixes the compiled MLP sizes);
  * the value of every node on 160 shared inputs (full length and shorter);
  * with a custom input sampler, the distribution of outputs it draws (printed side by side).

Upstream's case modules are run in a separate interpreter against stubs of the few upstream
modules they import (the RASP helpers and vocabularies are upstream's real files), so nothing
of upstream's training stack is needed.
"""

from __future__ import annotations

import argparse
import collections
import math
import pickle
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRUCTURE_MODULE = ROOT / "circuits_benchmark" / "cases" / "structure.py"
N_FULL, N_SHORT, N_GENERATED = 96, 64, 400

_STUB_CASE = '''
import random
import numpy as np
TRACR_BOS, TRACR_PAD = "BOS", "PAD"

class TracrBenchmarkCase:
    def get_max_seq_len(self): return 10
    def get_min_seq_len(self): return 4
    def supports_causal_masking(self): return True
    def is_trivial(self): return False
    def get_name(self): return type(self).__name__[4:]
    def get_correct_output_for_input(self, input): return self.get_program()(input)
    def sample_data(self, n_samples, min_seq_len, max_seq_len):
        vals = sorted(list(self.get_vocab()))
        pairs = [self.gen_random_input_output(vals, min_seq_len, max_seq_len) for _ in range(n_samples)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    def gen_random_input_output(self, vals, min_seq_len, max_seq_len):
        seq_len = random.randint(min_seq_len, max_seq_len)
        pad = [TRACR_PAD] * (max_seq_len - seq_len)
        sample = np.random.choice(vals, size=seq_len - 1).tolist()
        output = self.get_correct_output_for_input(sample)
        return [TRACR_BOS] + sample + pad, [TRACR_BOS] + output + pad
'''

_DUMP_UPSTREAM = r'''
import importlib, importlib.util, inspect, pickle, random, sys
import numpy as np
spec = importlib.util.spec_from_file_location("case_structure", sys.argv[1])
structure = importlib.util.module_from_spec(spec); spec.loader.exec_module(structure)
from circuits_benchmark.benchmark.tracr_benchmark_case import TracrBenchmarkCase
ids, n_full, n_short, n_gen, out = sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
result = {}
for case_id in ids:
    try:
        module = importlib.import_module(f"circuits_benchmark.benchmark.cases.case_{case_id}")
        cls = getattr(module, f"Case{case_id}")
        case = cls()
        program, vocab = case.get_program(), set(case.get_vocab())
        max_len = case.get_max_seq_len() - 1
        rng = np.random.default_rng(int(case_id))
        values = sorted(vocab, key=repr)
        inputs = [[values[i] for i in rng.integers(0, len(values), max_len)] for _ in range(n_full)]
        inputs += [[values[i] for i in rng.integers(0, len(values), int(rng.integers(1, max_len + 1)))]
                   for _ in range(n_short)]
        def runs(x):  # some programs cannot evaluate some inputs (e.g. case 125 on one token)
            try:
                structure.rasp.evaluate(program, x)
                return True
            except Exception:
                return False
        inputs = [x for x in inputs if runs(x)]
        custom = "sample_data" in cls.__dict__
        generated = None
        if custom:
            random.seed(0); np.random.seed(0)
            xs, _ = case.sample_data(n_gen, max_len + 1, max_len + 1)
            generated = [[t for t in x if t not in ("BOS", "PAD")] for x in xs]
        result[case_id] = dict(
            vocab=vocab, max_seq_len=max_len, causal=case.supports_causal_masking(),
            categorical=structure.rasp.is_categorical(program), trivial=case.is_trivial(),
            structure=structure.canonical_structure(program),
            value_sets=structure.node_value_sets(program, vocab, max_len),
            inputs=inputs, values=structure.node_values(program, inputs),
            custom_generator=custom, generated=generated,
            description=case.get_task_description(),
            output_override="get_correct_output_for_input" in cls.__dict__,
        )
    except Exception as err:  # reported, never hidden
        result[case_id] = dict(error=f"{type(err).__name__}: {err}")
with open(out, "wb") as f:
    pickle.dump(result, f)
'''


def _extract_upstream(args: argparse.Namespace, into: Path) -> Path:
    """Upstream's `circuits_benchmark/benchmark` tree under `into`, with stubs for the rest."""
    pkg = into / "circuits_benchmark"
    if args.upstream_git:
        tar = subprocess.run(
            ["git", f"--git-dir={args.upstream_git}", "archive", args.rev, "circuits_benchmark/benchmark"],
            check=True, capture_output=True,
        ).stdout
        tarfile.open(fileobj=BytesIO(tar)).extractall(into)
    else:
        src = Path(args.upstream_dir) / "circuits_benchmark" / "benchmark"
        subprocess.run(["cp", "-r", str(src), str(pkg / "benchmark")], check=True)
    bench = pkg / "benchmark"
    for stale in ("__init__.py", "cases/__init__.py"):
        (bench / stale).write_text("")
    (pkg / "__init__.py").write_text("")
    (bench / "tracr_benchmark_case.py").write_text(_STUB_CASE)
    (pkg / "transformers").mkdir()
    (pkg / "transformers" / "__init__.py").write_text("")
    (pkg / "transformers" / "hooked_tracr_transformer.py").write_text("HookedTracrTransformerBatchInput = list\n")
    return into


def _upstream_ids(root: Path) -> list[str]:
    cases = root / "circuits_benchmark" / "benchmark" / "cases"
    ids = [p.stem.removeprefix("case_") for p in cases.glob("case_*.py")]
    return sorted((i for i in ids if i.isdigit()), key=int)


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or isinstance(a, str) or isinstance(b, str):
            return a == b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _distribution(case, inputs) -> str:
    outs = case.evaluate(inputs)
    last = collections.Counter(repr(y[-1]) for y in outs).most_common(4)
    share = ", ".join(f"{v}: {c / len(outs):.2f}" for v, c in last)
    lengths = collections.Counter(len(x) for x in inputs)
    return f"last output {share}; lengths {dict(sorted(lengths.items()))}"


def compare_case(case_id: str, up: dict) -> list[str]:
    """Every difference between our case `case_id` and upstream's record `up`."""
    from circuits_benchmark.cases import UnknownCaseError, get_case
    from circuits_benchmark.cases import structure

    if "error" in up:
        return [f"upstream failed to load: {up['error']}"]
    try:
        case = get_case(case_id)
    except UnknownCaseError:
        return ["not registered here"]
    problems = []
    ours_meta = dict(vocab=set(case.vocab), max_seq_len=case.max_seq_len, causal=case.causal,
                     categorical=case.is_categorical)
    for key, value in ours_meta.items():
        if value != up[key]:
            problems.append(f"{key}: ours {value!r} upstream {up[key]!r}")
    ours_structure = structure.canonical_structure(case.program)
    if ours_structure != up["structure"]:
        problems.append("structure differs:\n  ours:\n    " + ours_structure.replace("\n", "\n    ")
                        + "\n  upstream:\n    " + up["structure"].replace("\n", "\n    "))
        return problems
    sets = structure.node_value_sets(case.program, set(case.vocab), case.max_seq_len)
    for k, (a, b) in enumerate(zip(sets, up["value_sets"])):
        if a != b:
            problems.append(f"value set of #{k}: ours {a[:8]} upstream {b[:8]}")
    inputs = [x for x in up["inputs"] if set(x) <= set(case.vocab) and len(x) <= case.max_seq_len]
    ours_values = structure.node_values(case.program, inputs)
    for k, (a, b) in enumerate(zip(ours_values, up["values"])):
        for x, va, vb in zip(inputs, a, b):
            if not _same(va, vb):
                problems.append(f"value of #{k} on {x}: ours {va} upstream {vb}")
                break
    if up["custom_generator"] != (case.generator is not None):
        problems.append(f"custom generator: ours {case.generator is not None} upstream {up['custom_generator']}")
    if up["output_override"]:
        problems.append("note: upstream computes this case's outputs with its own function, not the program")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--upstream-git", help="bare clone or .git directory of FlyingPumba/circuits-benchmark")
    source.add_argument("--upstream-dir", help="checkout of FlyingPumba/circuits-benchmark")
    parser.add_argument("--rev", default="HEAD", help="upstream revision (with --upstream-git)")
    parser.add_argument("-i", "--ids", nargs="*", help="case ids to compare (default: every upstream case)")
    parser.add_argument("--generators", action="store_true", help="print sampled-output distributions")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = _extract_upstream(args, Path(tmp) / "upstream")
        ids = args.ids or _upstream_ids(root)
        dump = Path(tmp) / "upstream.pkl"
        subprocess.run(
            [sys.executable, "-c", _DUMP_UPSTREAM, str(STRUCTURE_MODULE), ",".join(ids),
             str(N_FULL), str(N_SHORT), str(N_GENERATED), str(dump)],
            check=True, cwd=tmp, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        )
        upstream = pickle.loads(dump.read_bytes())

    from circuits_benchmark.cases import get_case

    failing = []
    for case_id in ids:
        problems = compare_case(case_id, upstream[case_id])
        real = [p for p in problems if not p.startswith("note:")]
        status = "OK  " if not real else "DIFF"
        print(f"{status} case {case_id}")
        for p in problems:
            print("     " + p.replace("\n", "\n     "))
        if args.generators and upstream[case_id].get("custom_generator"):
            case = get_case(case_id)
            print(f"     upstream sampler: {_distribution(case, upstream[case_id]['generated'])}")
            if case.generator is not None:
                print(f"     our sampler:      {_distribution(case, case.sample_inputs(N_GENERATED, seed=0))}")
        if real:
            failing.append(case_id)
    print(f"\n{len(ids) - len(failing)} of {len(ids)} cases match upstream; differing: {' '.join(failing) or 'none'}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
