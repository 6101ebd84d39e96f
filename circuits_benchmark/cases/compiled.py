"""A case compiled to a HookedTransformer, with a disk cache so Tracr runs once per case."""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

import circuits_benchmark
from circuits_benchmark import tracr_compat
from circuits_benchmark.cases.base import TracrCase
from circuits_benchmark.graph import Circuit, ComputationalGraph
from circuits_benchmark.tracr_compat import (
    TracrAlignment,
    TracrCompilation,
    TracrEncoding,
    build_alignment,
    compile_program,
    tracr_encoding,
)
from circuits_benchmark.tracr_compat.compile import reset_rasp_ids
from circuits_benchmark.tracr_compat.hooked import build_hooked_transformer, tracr_config, tracr_state_dict
from circuits_benchmark.utils.atomic import torch_save


CONSTANCY_SAMPLES = 256
"""Inputs on which each RASP value is checked for being the same everywhere (see `build_alignment`)."""
OUTPUT_SCALE_SAMPLES = 256
UNDEFINED_FRACTION = 0.1
"""Inputs sampled for, and the fraction of, the output scale in `CompiledCase.undefined_below`."""


def default_cache_dir() -> Path:
    """`$CIRCUITS_BENCHMARK_CACHE`, else `~/.cache/circuits_benchmark`."""
    env = os.environ.get("CIRCUITS_BENCHMARK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "circuits_benchmark"


@dataclass
class CompiledCase:
    """A case's HookedTransformer (the high-level model) with its encoding and true circuit."""

    case: TracrCase
    model: HookedTransformer
    encoding: TracrEncoding
    alignment: TracrAlignment

    @property
    def device(self) -> torch.device:
        return self.model.cfg.device if isinstance(self.model.cfg.device, torch.device) else torch.device(self.model.cfg.device)

    def tokens(self, inputs: Sequence[Sequence[Any]]) -> torch.Tensor:
        return self.encoding.encode(inputs, device=self.device)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens, attention_mask=self.encoding.attention_mask(tokens))

    def alignment_for(self, model_or_cfg: Any) -> TracrAlignment:
        """The alignment that holds in a model of this shape (a HookedTransformer, its cfg or a graph's cfg).

        The Tracr model keeps Tracr's places. LL models get InterpBench's placement overrides
        (`training.ll_model.PLACEMENT_OVERRIDES`, e.g. case 3's `frac_prevs` in head a1.h2) when the
        model has the components they name (InterpBench's shape has), Tracr's places otherwise (as
        with InterpBench's `--same-size`). Training and evaluation both decide through this method.
        """
        from circuits_benchmark.training.ll_model import PLACEMENT_OVERRIDES, ll_alignment

        cfg = getattr(model_or_cfg, "cfg", model_or_cfg)
        hl = self.model.cfg
        overrides = [c for comps in PLACEMENT_OVERRIDES.get(self.case.case_id, {}).values() for c in comps]
        fits = all(c.layer < cfg.n_layers and (c.kind != "head" or c.head < cfg.n_heads) for c in overrides)
        same_size = (cfg.n_layers, cfg.n_heads) == (hl.n_layers, hl.n_heads) or not fits
        return ll_alignment(self.alignment, self.case.case_id, same_size=same_size)

    def true_circuit(self, graph: Optional[ComputationalGraph] = None, ablation: str = "patching") -> Circuit:
        """The ground-truth circuit as a `Circuit` on `graph` (default: the Tracr model's), for the given ablation."""
        graph = graph or ComputationalGraph.from_model(self.model)
        return Circuit.from_edges(graph, self.alignment_for(graph.cfg).mib_edges(ablation))

    @cached_property
    def undefined_below(self) -> float:
        """A categorical output whose largest logit is below this is a RASP None (Tracr writes ~0 in every
        direction there). A fraction (`UNDEFINED_FRACTION`) of the largest logit the model gives on a sample:
        Tracr's output scale varies by case (one-hot 1.0 for most; 0.38 to 0.47 at some positions of cases
        5, 25, 97, 98; 0.003 everywhere in case 113), while None outputs stay below 0.001."""
        tokens = self.tokens(self.case.sample_inputs(OUTPUT_SCALE_SAMPLES, seed=0))
        with torch.no_grad():
            top = self.logits(tokens).max(dim=-1).values
        return UNDEFINED_FRACTION * float(top.max())

    @torch.no_grad()
    def run(self, inputs: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """Decoded outputs for raw inputs (without BOS), like Tracr's `apply(...).decoded[1:]`."""
        tokens = self.tokens(inputs)
        return self.encoding.decode(self.logits(tokens), tokens)


def compile_tracr(case: TracrCase) -> TracrCompilation:
    """Run Tracr on the case's program (slow: seconds; use `compile_case` for the cached model)."""
    reset_rasp_ids()
    program = case.build_program()
    return compile_program(program, set(case.vocab), case.max_seq_len, causal=case.causal)


def _fingerprint(case: TracrCase) -> str:
    """Changes whenever the case's source, the conversion code or the package version changes."""
    module = inspect.getmodule(case.build_program)
    source = inspect.getsource(module) if module else repr(case)
    converter = "".join(p.read_text() for p in sorted(Path(tracr_compat.__file__).parent.glob("*.py")))
    text = f"{circuits_benchmark.__version__}|{case.case_id}|{source}|{converter}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def compile_case(
    case: TracrCase,
    device: str | torch.device = "cpu",
    cache_dir: Optional[Path] = None,
    use_cache: bool = True,
) -> CompiledCase:
    """The case's HookedTransformer, loaded from the disk cache or compiled (and cached)."""
    path = (cache_dir or default_cache_dir()) / f"case_{case.case_id}-{_fingerprint(case)}.pt"
    if use_cache and path.exists():
        blob = torch.load(path, map_location="cpu", weights_only=False)
        cfg = HookedTransformerConfig.from_dict(blob["cfg"])
        state, encoding, alignment = blob["state_dict"], blob["encoding"], blob["alignment"]
    else:
        compilation = compile_tracr(case)
        cfg = tracr_config(compilation)
        state = tracr_state_dict(compilation, cfg)
        encoding = tracr_encoding(compilation)
        alignment = build_alignment(compilation, case.sample_inputs(CONSTANCY_SAMPLES, seed=0))
        if use_cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            blob = {"cfg": cfg.to_dict(), "state_dict": state, "encoding": encoding, "alignment": alignment}
            torch_save(blob, path)  # atomic: concurrent workers never read a partial cache file
    cfg.device = str(device)
    model = build_hooked_transformer(cfg, state, device)
    return CompiledCase(case, model, encoding, alignment)
