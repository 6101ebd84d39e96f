"""Trained LL models on disk, in InterpBench's Hugging Face layout.

    {root}/{case}/ll_model_{run}.pth       state dict
    {root}/{case}/ll_model_cfg_{run}.pkl   HookedTransformerConfig as a dict (also .json, readable)
    {root}/{case}/meta_{run}.json          training settings (and final metrics)
    {root}/{case}/edges.pkl                ground-truth circuit edges as upstream's hook-name pairs
    {root}/{case}/edges.json               the same edges as MIB names

`run` is InterpBench's weight id (510 for iit 1, strict 0.4, behaviour 1). The published models
on the hub (`cybershiptrooper/InterpBench`) use the same folder per case but without the run
suffix (`{case}/ll_model.pth`, `{case}/ll_model_cfg.pkl`); `load_interp_bench_model` reads those.
Published files come from TransformerLens 1.19: configs may be pickled `HookedTransformerConfig`
objects (read without importing TL 1.19, see `read_cfg_file`) and state dicts carry attention
buffers TL rebuilds itself (`LEGACY_BUFFER`, dropped on load).
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import dataclasses
import hashlib
import json
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Optional, Sequence

import numpy as np
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.utils.atomic import atomic_write, finite_or_none, json_text
from circuits_benchmark.tracr_compat.alignment import CircuitEdge
from circuits_benchmark.tracr_compat.hook_edges import from_hook_edges, parse_mib_edge, to_hook_edges
from circuits_benchmark.training.ll_model import build_ll_model
from circuits_benchmark.utils.device import resolve_device

SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "siit_models"
"""The shipped SIIT model set (InterpBench's layout, committed with the package): the benchmark's ground truth."""
DEFAULT_ROOT = SHIPPED_ROOT
DEFAULT_RUN = "510"
HUB_REPO = "cybershiptrooper/InterpBench"


@dataclass
class StoredModel:
    """A loaded LL model with its config, training metadata and ground-truth edges (MIB names)."""

    model: HookedTransformer
    cfg: HookedTransformerConfig
    meta: dict[str, Any] = field(default_factory=dict)
    edges: list[str] = field(default_factory=list)
    folder: Optional[Path] = None


def _suffix(run: Optional[str]) -> str:
    return f"_{run}" if run not in (None, "") else ""


def model_paths(case_id: str, run: Optional[str], root: Path | str) -> dict[str, Path]:
    folder = Path(root) / str(case_id)
    s = _suffix(run)
    return {
        "folder": folder,
        "weights": folder / f"ll_model{s}.pth",
        "cfg_pkl": folder / f"ll_model_cfg{s}.pkl",
        "cfg_json": folder / f"ll_model_cfg{s}.json",
        "meta": folder / f"meta{s}.json",
        "edges_pkl": folder / "edges.pkl",
        "edges_json": folder / "edges.json",
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def cfg_to_dict(cfg: HookedTransformerConfig) -> dict[str, Any]:
    """The config as a plain dict (device as a string, so it loads on any machine)."""
    d = cfg.to_dict()
    d["device"] = str(d.get("device") or "cpu")
    return d


def cfg_from_dict(d: dict[str, Any] | HookedTransformerConfig) -> HookedTransformerConfig:
    """A config from a saved dict (unknown keys from other TransformerLens versions are dropped)."""
    if isinstance(d, HookedTransformerConfig):
        return d
    known = {f.name for f in dataclasses.fields(HookedTransformerConfig) if f.init}
    d = {k: v for k, v in d.items() if k in known}
    if isinstance(d.get("dtype"), str):
        d["dtype"] = getattr(torch, d["dtype"].replace("torch.", ""))
    # derived fields are recomputed by __post_init__
    for derived in ("n_params",):
        d.pop(derived, None)
    return HookedTransformerConfig(**d)


class ConfigFileError(ValueError):
    """A config (or edges) file that cannot be read; the message says what is expected."""


class _PickledConfig:
    """Stand-in for a pickled `HookedTransformerConfig` object of any TL version: keeps its state dict."""

    state: dict[str, Any]

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple):  # (dict, slots) from classes with __slots__
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = dict(state)


try:
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # numpy < 2
    from numpy.core.multiarray import scalar as _np_scalar  # type: ignore[no-redef]

_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    **{("builtins", t.__name__): t for t in (dict, list, tuple, set, frozenset, str, bytes, bytearray, int,
                                              float, complex, bool, slice, object)},
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,  # protocol 0/1 objects
    ("_codecs", "encode"): codecs.encode,  # bytes in protocol 2
    ("torch", "device"): torch.device,
    ("numpy", "dtype"): np.dtype,  # numpy floats (TL 1.x's initializer_range)
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain data, torch dtypes and devices, numpy scalars; `HookedTransformerConfig` as `_PickledConfig`."""

    def __init__(self, file: IO[bytes], path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        module = {"copy_reg": "copyreg", "__builtin__": "builtins"}.get(module, module)  # protocol 0/1 names
        if module.split(".")[0] == "transformer_lens" and name == "HookedTransformerConfig":
            return _PickledConfig
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        raise ConfigFileError(f"{self.path} refers to class {module}.{name}, which is not allowed here (only "
                              f"HookedTransformerConfig, torch dtypes and plain builtins)")


def _restricted_load(path: Path) -> Any:
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except ConfigFileError:
            raise
        except Exception as err:  # truncated or not a pickle
            raise ConfigFileError(f"{path} is not a readable pickle: {err}") from err


def read_cfg_file(path: Path | str) -> HookedTransformerConfig:
    """A TL 3 config from `.json` (fields) or `.pkl` (a dict, or a pickled `HookedTransformerConfig` of any TL version).

    Raises ConfigFileError (a ValueError) for other file types and contents.
    """
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigFileError(f"config {path} is not valid JSON: {err}") from err
    elif path.suffix == ".pkl":
        data = _restricted_load(path)
        if isinstance(data, _PickledConfig):
            data = data.state
    else:
        raise ConfigFileError(f"config {path} must be a .pkl (a dict or HookedTransformerConfig, as InterpBench's "
                              f"ll_model_cfg.pkl) or a .json file of HookedTransformerConfig fields")
    if not isinstance(data, dict):
        raise ConfigFileError(f"config {path} holds a {type(data).__name__}; expected HookedTransformerConfig "
                              f"fields (a dict / JSON object) or a HookedTransformerConfig object")
    try:
        return cfg_from_dict(data)
    except (TypeError, ValueError, AssertionError) as err:
        raise ConfigFileError(f"config {path} is not a valid HookedTransformerConfig: {err}") from err


LEGACY_BUFFER = re.compile(r"blocks\.\d+\.attn\.(mask|IGNORE|rotary_sin|rotary_cos)")
"""Attention buffers TL builds from the config (TL 1.x saved `mask` as `[n_ctx, n_ctx]`; TL 3 keeps a `[0, 0]` stub)."""


def _listed(names: list[str]) -> str:
    return f"{names[:5]}{'...' if len(names) > 5 else ''}"


def fit_state_dict(model: HookedTransformer, state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`state` without `LEGACY_BUFFER` keys, and what keeps it from fitting `model` (empty when it fits).

    Problems: missing parameters, unknown keys, shape mismatches.
    """
    state = {k: v for k, v in state.items() if not LEGACY_BUFFER.fullmatch(str(k))}
    expected = {k: v for k, v in model.state_dict().items() if not LEGACY_BUFFER.fullmatch(k)}
    missing = sorted(k for k, _ in model.named_parameters() if k not in state)
    unexpected = sorted(str(k) for k in state if k not in expected)
    wrong = [f"{k}: checkpoint {tuple(v.shape)} vs config {tuple(expected[k].shape)}"
             for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing parameters {_listed(missing)}")
    if unexpected:
        problems.append(f"unknown keys {_listed(unexpected)}")
    if wrong:
        problems.append(f"shape mismatches {_listed(wrong)}")
    return state, problems


def _json_bytes(value: Any) -> Callable[[IO[bytes]], Any]:
    return lambda f: f.write(json_text(finite_or_none(_jsonable(value)), indent=2).encode())


def write_meta(case_id: str, run: str, root: Path | str, meta: dict[str, Any]) -> Path:
    """Replace a stored model's meta file (atomically)."""
    path = model_paths(case_id, run, root)["meta"]
    atomic_write(path, _json_bytes(meta))
    return path


def save_ll_model(
    model: HookedTransformer,
    case_id: str,
    run: str = DEFAULT_RUN,
    root: Path | str = DEFAULT_ROOT,
    meta: Optional[dict[str, Any]] = None,
    edges: Optional[Sequence[CircuitEdge]] = None,
) -> Path:
    """Write the model in the InterpBench layout (each file atomically); returns the case folder.

    `edges`, the true circuit on this model, go to `edges.pkl` as upstream's hook-name pairs and to
    `edges.json` as MIB names. (MIB name strings are still accepted while callers switch; their
    `input` is written as `hook_embed`.)
    """
    paths = model_paths(case_id, run, root)
    paths["folder"].mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write(paths["weights"], lambda f: torch.save(state, f))
    cfg = cfg_to_dict(model.cfg)
    atomic_write(paths["cfg_pkl"], lambda f: pickle.dump(cfg, f))
    atomic_write(paths["cfg_json"], _json_bytes(cfg))
    if edges is not None:
        circuit = [parse_mib_edge(e) if isinstance(e, str) else e for e in edges]
        hook_edges = to_hook_edges(circuit, model.cfg.n_layers)
        atomic_write(paths["edges_pkl"], lambda f: pickle.dump(hook_edges, f))
        atomic_write(paths["edges_json"], _json_bytes(sorted({e.mib_name for e in circuit})))
    atomic_write(paths["meta"], _json_bytes(meta or {}))  # last: a folder with its meta file is complete
    return paths["folder"]


def _read_edges(paths: dict[str, Path]) -> list[str]:
    """MIB edge names from edges.json, else from edges.pkl (upstream's hook-name pairs or MIB names)."""
    if paths["edges_json"].exists():
        return list(json.loads(paths["edges_json"].read_text()))
    if not paths["edges_pkl"].exists():
        return []
    data = _restricted_load(paths["edges_pkl"])
    if isinstance(data, (list, tuple, set)):
        if all(isinstance(e, str) for e in data):
            return list(data)
        if all(isinstance(e, (tuple, list)) for e in data):
            try:
                return from_hook_edges(data)
            except ValueError as err:
                raise ConfigFileError(f"edges file {paths['edges_pkl']}: {err}") from err
    raise ConfigFileError(f"edges file {paths['edges_pkl']} must hold a list of (parent hook, child hook) "
                          f"pairs or of MIB edge names, got {type(data).__name__}")


def _load_from_paths(paths: dict[str, Path], device: Optional[str | torch.device]) -> StoredModel:
    if not paths["weights"].exists():
        raise FileNotFoundError(f"no model weights at {paths['weights']}")
    dev = resolve_device(str(device) if device is not None else None)
    cfg_path = next((paths[k] for k in ("cfg_pkl", "cfg_json") if paths[k].exists()), None)
    if cfg_path is None:
        raise FileNotFoundError(f"no config {paths['cfg_pkl'].name} or {paths['cfg_json'].name} in {paths['folder']}")
    cfg = read_cfg_file(cfg_path)
    cfg.device = str(dev)
    model = build_ll_model(cfg, dev)
    state, problems = fit_state_dict(model, torch.load(paths["weights"], map_location=dev, weights_only=True))
    if problems:
        raise ValueError(f"{paths['weights']} does not fit its config {cfg_path.name}: " + "; ".join(problems))
    model.load_state_dict(state, strict=False)
    model.eval()
    return StoredModel(model, cfg, _meta_at(paths["meta"]), _read_edges(paths), paths["folder"])


def _meta_at(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def read_meta(case_id: str, run: Optional[str] = DEFAULT_RUN, root: Path | str = DEFAULT_ROOT) -> dict[str, Any]:
    """A stored model's meta file alone (no weights loaded); {} when there is none."""
    return _meta_at(model_paths(case_id, run, root)["meta"])


def weights_digest(case_id: str, run: Optional[str] = DEFAULT_RUN, root: Path | str = DEFAULT_ROOT) -> Optional[str]:
    """SHA-256 of a stored model's weights file (None when there is none): which model a result came from."""
    path = model_paths(case_id, run, root)["weights"]
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def passes_gate(meta: dict[str, Any]) -> bool:
    """Whether a stored model's meta records a passed quality gate (no gate: False)."""
    return bool((meta.get("gate") or {}).get("passed", False))


def load_ll_model(
    case_id: str,
    run: Optional[str] = DEFAULT_RUN,
    root: Path | str = DEFAULT_ROOT,
    device: Optional[str | torch.device] = None,
) -> StoredModel:
    """Load `{root}/{case_id}/ll_model_{run}.pth` with its config, meta and edges."""
    return _load_from_paths(model_paths(case_id, run, root), device)


def stored_model(case_id: str, run: Optional[str] = DEFAULT_RUN, root: Path | str = DEFAULT_ROOT,
                 device: Optional[str | torch.device] = None) -> Optional[StoredModel]:
    """The stored model if its weights and meta file are both there (a run that stopped before writing its meta
    left no model), else None. A broken file is an error, not a None."""
    paths = model_paths(case_id, run, root)
    if not (paths["meta"].exists() and paths["weights"].exists()):
        return None
    return _load_from_paths(paths, device)


def load_interp_bench_model(
    case_id: str,
    run: Optional[str] = None,
    device: Optional[str | torch.device] = None,
    repo_id: str = HUB_REPO,
    download: Optional[Callable[..., str]] = None,
    cache_dir: Optional[str] = None,
) -> StoredModel:
    """Download a published InterpBench model (`{case}/ll_model{_run}.pth` and its config) from the hub.

    `download` defaults to `huggingface_hub.hf_hub_download` and is called as
    `download(repo_id=..., filename=..., subfolder=case_id, cache_dir=...)`; meta and edges files are
    optional (skipped when the hub has none).
    """
    if download is None:
        from huggingface_hub import hf_hub_download as download  # type: ignore[no-redef]

    wanted = model_paths(case_id, run, ".")
    local: dict[str, Path] = {}
    for key in ("weights", "cfg_pkl", "meta", "edges_pkl"):
        name = wanted[key].name
        try:
            local[key] = Path(download(repo_id=repo_id, filename=name, subfolder=str(case_id), cache_dir=cache_dir))
        except Exception as err:  # hub errors: missing file, no network
            if key in ("weights", "cfg_pkl"):
                raise FileNotFoundError(f"could not get {case_id}/{name} from {repo_id}: {err}") from err
    paths = {
        "folder": local["weights"].parent,
        "weights": local["weights"],
        "cfg_pkl": local["cfg_pkl"],
        "cfg_json": local["cfg_pkl"].with_suffix(".json-missing"),
        "meta": local.get("meta", local["weights"].with_name("meta-missing.json")),
        "edges_pkl": local.get("edges_pkl", local["weights"].with_name("edges-missing.pkl")),
        "edges_json": local["weights"].with_name("edges-missing.json"),
    }
    return _load_from_paths(paths, device)
