"""Reference runs of auto-circuit 1.0.1 on our models, batches and metrics (for benchmarks).

Install (auto-circuit pins old transformer-lens, so skip its deps)::

    pip install auto-circuit==1.0.1 --no-deps
    pip install ordered-set blobfile lxml pycryptodomex vscode-tqdm word2word plotly kaleido

auto-circuit wraps (mutates) the model it is given, so every function here deep-copies our
``HookedTransformer`` first. Its factorized graph (``separate_qkv=True``) has the same edges as
ours: ``Resid Start``/``A{L}.{H}``/``MLP {L}`` -> ``A{L}.{H}.{Q,K,V}``/``MLP {L}``/``Resid End``
correspond to ``input``/``a{L}.h{H}``/``m{L}`` -> ``a{L}.h{H}<q|k|v>``/``m{L}``/``logits``.

Self-check: ``PYTHONPATH=.:/tmp/acpkg python benchmarks/auto_circuit_ref.py``.
"""

from __future__ import annotations

import copy
import sys
import time
import types
from typing import Any, Callable, Literal

import torch

Tensor = torch.Tensor
_AC: dict[str, Any] = {}


def _import_auto_circuit() -> dict[str, Any]:
    """Import auto-circuit once, after the transformer-lens 3.x compatibility shim."""
    if not _AC:
        import transformer_lens
        # auto-circuit imports HookedTransformerKeyValueCache (transformer-lens <3 name), both from
        # the package and from transformer_lens.past_key_value_caching; 3.x renamed it.
        if not hasattr(transformer_lens, "HookedTransformerKeyValueCache"):
            cache_cls = transformer_lens.TransformerLensKeyValueCache
            transformer_lens.HookedTransformerKeyValueCache = cache_cls
            shim = types.ModuleType("transformer_lens.past_key_value_caching")
            shim.HookedTransformerKeyValueCache = cache_cls
            sys.modules.setdefault(shim.__name__, shim)
        from auto_circuit.data import PromptDataLoader, PromptDataset
        from auto_circuit.prune_algos.ACDC import acdc_prune_scores
        from auto_circuit.utils.ablation_activations import src_ablations
        from auto_circuit.utils.graph_utils import patch_mode, patchable_model, set_all_masks, set_mask_batch_size
        _AC.update(locals())
    return _AC


def available() -> bool:
    """True if auto-circuit (and the shim) import; never raises."""
    try:
        _import_auto_circuit()
        return True
    except Exception:
        return False


def wrap(model: Any, slice_output: str | None = "last_seq") -> Any:
    """auto-circuit's ``PatchableModel`` around a deep copy of ``model`` (ours stays untouched)."""
    ac = _import_auto_circuit()
    device = next(model.parameters()).device
    return ac["patchable_model"](copy.deepcopy(model), factorized=True, slice_output=slice_output,
                                 separate_qkv=True, device=device)


def _node_name(ac_name: str) -> str:
    if ac_name == "Resid Start":
        return "input"
    if ac_name == "Resid End":
        return "logits"
    if ac_name.startswith("MLP "):
        return f"m{ac_name[4:]}"
    layer, head, *qkv = ac_name[1:].split(".")  # "A1.2" or "A1.2.Q"
    return f"a{layer}.h{head}" + (f"<{qkv[0].lower()}>" if qkv else "")


def edge_name_map(ac_model: Any, graph: Any) -> dict[Any, str]:
    """``{auto-circuit Edge: our edge name}`` for every edge; raises if the graphs differ."""
    out: dict[Any, str] = {}
    for e in ac_model.edges:
        dest = _node_name(e.dest.name)
        qkv = None
        if dest.endswith(">"):
            dest, qkv = dest[:-3], dest[-2]
        name = f"{_node_name(e.src.name)}->{dest}" + (f"<{qkv}>" if qkv else "")
        if name not in graph.edge_by_name:
            raise ValueError(f"auto-circuit edge {e.name} -> {name} is not in our graph")
        out[e] = name
    if len(out) != graph.n_edges or len(set(out.values())) != graph.n_edges:
        raise ValueError(f"auto-circuit has {len(out)} edges, our graph {graph.n_edges}")
    return out


def _metric(name: str, clean_logits: Tensor) -> Callable[[Tensor], Tensor]:
    """``[..., batch, pos, vocab]`` logits -> ``[...]``."""
    if name == "logit0_last":  # bench_patching.py's metric
        return lambda logits: logits[..., -1, :].log_softmax(-1)[..., 0].mean(-1)
    if name == "kl_last":  # KL(clean || patched) at the last position, mean over batch
        ref = clean_logits[:, -1].log_softmax(-1)
        return lambda logits: (ref.exp() * (ref - logits[..., -1, :].log_softmax(-1))).sum(-1).mean(-1)
    raise ValueError(f"unknown metric {name!r}")


@torch.no_grad()
def single_edge_effects(model: Any, clean: Tensor, corrupted: Tensor, metric_name: str = "logit0_last",
                        batched: bool = False, circuits_per_batch: int = 64) -> tuple[dict[str, float], float]:
    """Metric with each edge alone patched from the corrupted run, via auto-circuit's patch masks.

    Unbatched: auto-circuit's ``patch_mode`` with one mask entry set per forward (what its ACDC
    does; ``run_circuits`` would add a corrupted forward and a full mask rebuild per edge).
    Batched: its experimental ``set_mask_batch_size`` gives every batch row its own mask, so
    ``circuits_per_batch`` circuits run in one forward on the clean batch tiled that many times.

    Returns ``{our edge name: value}`` and the wall seconds of the edge loop only: model wrapping
    and the corrupted source forward (``src_ablations``) are excluded, as in bench_patching.py,
    where ``resolve_source`` is also computed outside the timed region.
    """
    ac = _import_auto_circuit()
    ac_model = wrap(model, slice_output=None)
    names = edge_name_map(ac_model, _graph_of(model))
    metric = _metric(metric_name, model(clean))
    src = ac["src_ablations"](ac_model, corrupted)  # [n_src, batch, pos, d_model]
    edges = list(ac_model.edges)
    batch = clean.shape[0]
    values: dict[str, float] = {}
    start = time.perf_counter()
    if not batched:
        ac["set_all_masks"](ac_model, 0.0)
        with ac["patch_mode"](ac_model, src):
            for e in edges:
                mask = e.patch_mask(ac_model).data
                mask[e.patch_idx] = 1.0
                values[names[e]] = float(metric(ac_model(clean)))
                mask[e.patch_idx] = 0.0
    else:
        for lo in range(0, len(edges), circuits_per_batch):
            chunk = edges[lo:lo + circuits_per_batch]
            n = len(chunk)
            with ac["patch_mode"](ac_model, src.repeat(1, n, 1, 1)), ac["set_mask_batch_size"](ac_model, n * batch):
                ac["set_all_masks"](ac_model, 0.0)
                for c, e in enumerate(chunk):
                    e.patch_mask(ac_model).data[(slice(c * batch, (c + 1) * batch),) + e.patch_idx] = 1.0
                logits = ac_model(clean.repeat(n, 1))
                out = metric(logits.reshape(n, batch, *logits.shape[1:]))
            values.update({names[e]: float(v) for e, v in zip(chunk, out)})
    return values, time.perf_counter() - start


def _graph_of(model: Any) -> Any:
    """Our ComputationalGraph of ``model`` (imported lazily)."""
    from circuits_benchmark.graph import ComputationalGraph
    return ComputationalGraph.from_model(model)


def our_acdc_order(graph: Any) -> list[str]:
    """Our ACDC's visiting order: nodes in reverse topological order, then q, k, v inputs,
    latest parent first (``circuits_benchmark.methods.acdc._incoming_order``)."""
    return [e.name for e in sorted(graph.edges, key=lambda e: (-e.child.index, e.downstream_index, -e.parent.index))]


def acdc_kept_edges(model: Any, clean: Tensor, corrupted: Tensor, tau: float,
                    edge_order: Literal["ours", "auto_circuit"] = "ours",
                    prune_dangling: bool = True) -> tuple[set[str], float]:
    """auto-circuit's ``acdc_prune_scores`` at the single threshold ``tau``; kept edges and seconds.

    Objective (auto-circuit, ``faithfulness_target="kl_div"``, ``slice_output="last_seq"``):
    ``KL(clean || patched)`` of the last-position distributions, mean over the batch; an edge is
    removed when ``faith - prev_faith < tau``. That equals our ``PatchingTask.metric(.., "kl")``
    with ``positions`` = the last position only.

    Order: auto-circuit visits ``sorted(model.edges, key=dest.layer, reverse=True)``, i.e. by
    destination layer (Resid End, MLP L, heads of L, ...) but, within a layer, in the iteration
    order of a Python ``set`` (depends on ``PYTHONHASHSEED``). ``edge_order="ours"`` hands it an
    ordered edge list in our order (dest node in reverse topological order, q/k/v, latest parent
    first), which the stable sort keeps; ``"auto_circuit"`` leaves its set order.

    auto-circuit evaluates every edge, including those of nodes with no path to the logits
    (their effect is ~0, so they go); ours removes them without evaluating, and prunes dangling
    edges at the end. ``prune_dangling`` applies our ``prune_edges`` to auto-circuit's result
    (outside the timed region) so the two sets are comparable.

    Seconds: the ``acdc_prune_scores`` call only (it includes its own clean/corrupted source
    forwards and cache run); wrapping is excluded.
    """
    ac = _import_auto_circuit()
    from circuits_benchmark.graph import prune_edges

    graph = _graph_of(model)
    ac_model = wrap(model, slice_output="last_seq")
    names = edge_name_map(ac_model, graph)
    if edge_order == "ours":
        by_name = {v: k for k, v in names.items()}
        ac_model.edges = [by_name[n] for n in our_acdc_order(graph)]  # only iterated by ACDC
    ds = ac["PromptDataset"](clean, corrupted, [torch.zeros(1, dtype=torch.long)] * len(clean),
                             [torch.zeros(1, dtype=torch.long)] * len(clean))
    loader = ac["PromptDataLoader"](ds, seq_len=None, diverge_idx=0, batch_size=len(clean), shuffle=False)
    start = time.perf_counter()
    scores = ac["acdc_prune_scores"](ac_model, loader, None, tao_exps=[0], tao_bases=[tau])  # tau * 10**0
    seconds = time.perf_counter() - start
    kept = {names[e] for e in names if bool(torch.isinf(e.prune_score(scores)))}  # removed: score = tau
    if prune_dangling:
        mask = torch.tensor([e.name in kept for e in graph.edges])
        kept = {graph.edges[i].name for i in torch.nonzero(prune_edges(graph, mask)).flatten().tolist()}
    return kept, seconds


def _self_check() -> None:
    import warnings
    warnings.filterwarnings("ignore")
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from circuits_benchmark.graph import PatchSource, prepare_model, resolve_source
    from circuits_benchmark.graph.naive import naive_single_edge_effects
    from circuits_benchmark.methods.acdc import acdc_circuit
    from circuits_benchmark.methods.base import MethodConfig
    from circuits_benchmark.tasks import PatchingTask

    torch.set_num_threads(1)
    if not available():
        print("auto-circuit not importable; install it (see module docstring)")
        return
    layers, heads, d_model, batch, seq = 2, 4, 32, 4, 6
    cfg = HookedTransformerConfig(n_layers=layers, n_heads=heads, d_model=d_model, d_head=d_model // heads,
                                  d_mlp=4 * d_model, n_ctx=seq, d_vocab=50, act_fn="gelu",
                                  normalization_type="LN", seed=0)
    model = prepare_model(HookedTransformer(cfg)).eval()
    graph = _graph_of(model)
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 50, (batch, seq), generator=gen)
    corrupted = torch.randint(0, 50, (batch, seq), generator=gen)
    print(f"model {layers}x{heads}, d_model {d_model}, batch {batch} x seq {seq}, {graph.n_edges} edges")

    source = resolve_source(model, graph, PatchSource.corrupted(corrupted))
    metric = _metric("logit0_last", model(clean))
    start = time.perf_counter()
    ours = naive_single_edge_effects(model, graph, clean, source, metric)
    print(f"ours naive single-edge effects: {time.perf_counter() - start:.2f} s")
    for batched in (False, True):
        ac_vals, secs = single_edge_effects(model, clean, corrupted, "logit0_last", batched=batched)
        diff = max(abs(ac_vals[e.name] - float(ours[e.index])) for e in graph.edges)
        print(f"auto-circuit single-edge effects (batched={batched}): {secs:.2f} s, "
              f"max |auto-circuit - ours| = {diff:.2e}")

    tau = 1e-3
    positions = torch.zeros(batch, seq, dtype=torch.bool)
    positions[:, -1] = True
    task = PatchingTask(model=model, clean_tokens=clean, corrupted_tokens=corrupted, positions=positions,
                        is_categorical=True)
    start = time.perf_counter()
    circuit = acdc_circuit(task, graph, tau=tau, config=MethodConfig(progress=False, extra={"sequential": True}))
    our_s = time.perf_counter() - start
    our_kept = {graph.edges[i].name for i in torch.nonzero(circuit.edge_in_graph).flatten().tolist()}
    print(f"our ACDC (sequential) tau={tau}: {len(our_kept)} kept edges, {our_s:.2f} s")
    for order in ("ours", "auto_circuit"):
        kept, secs = acdc_kept_edges(model, clean, corrupted, tau, edge_order=order)
        print(f"auto-circuit ACDC (edge_order={order}): {len(kept)} kept, {secs:.2f} s; "
              f"agree on {len(kept & our_kept)} kept, only-ac {len(kept - our_kept)}, "
              f"only-ours {len(our_kept - kept)}")


if __name__ == "__main__":
    _self_check()
