"""`main.py compile -i CASE`: compile a case, check it against Tracr, print its true circuit."""

from __future__ import annotations

import argparse
import time

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import compile_case, compile_tracr
from circuits_benchmark.commands.arguments import add_device_arg, non_negative_int
from circuits_benchmark.tracr_compat.compile import BOS
from circuits_benchmark.utils.device import resolve_device
from circuits_benchmark.utils.equality import outputs_match


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compile", help="compile a case to a HookedTransformer and show its true circuit")
    p.add_argument("-i", "--case", required=True, help="case id (see `main.py cases`)")
    add_device_arg(p)
    p.add_argument("--check", type=non_negative_int, default=20, metavar="N", help="compare with Tracr on N sampled inputs (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompile even if a cached model exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    case = get_case(args.case)
    start = time.perf_counter()
    compiled = compile_case(case, device=resolve_device(args.device), use_cache=not args.no_cache)
    cfg = compiled.model.cfg
    print(f"case {case.case_id}: {case.description}")
    print(
        f"HookedTransformer: {cfg.n_layers} layers, {cfg.n_heads} heads, d_model={cfg.d_model}, "
        f"d_mlp={cfg.d_mlp}, {case.output_kind} output, device={cfg.device} "
        f"({time.perf_counter() - start:.1f}s)"
    )
    print("alignment (RASP node -> components):")
    for label, comps in compiled.alignment.components.items():
        print(f"  {label:28s} {', '.join(c.name for c in comps)}")
    all_edges, resample = compiled.alignment.mib_edges("zero"), set(compiled.alignment.mib_edges("patching"))
    print(f"true circuit: {len(all_edges)} edges ({len(resample)} matter under resample ablation)")
    for edge in all_edges:
        print(f"  {edge}" + ("" if edge in resample else "   (positions only: zero ablation only)"))
    if args.check:
        inputs = case.sample_inputs(args.check, args.seed)
        tracr_model = compile_tracr(case).model
        expected = [tracr_model.apply([BOS] + list(x)).decoded[1:] for x in inputs]
        ours = compiled.run(inputs)
        bad = [(x, o, e) for x, o, e in zip(inputs, ours, expected) if not outputs_match(o, e, case.is_categorical)]
        if bad:
            x, o, e = bad[0]
            print(f"MISMATCH with Tracr on {len(bad)}/{len(inputs)} inputs, e.g. {x}: ours {o}, tracr {e}")
            return 1
        print(f"outputs equal Tracr's on {len(inputs)} sampled inputs")
    return 0
