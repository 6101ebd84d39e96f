"""Trained LL models on disk, in InterpBench's Hugging Face layout.

    {root}/{case}/ll_model_{run}.pth       state dict
    {root}/{case}/ll_model_cfg_{run}.pkl   HookedTransformerConfig as a dict (also .json, readable)
    {root}/{case}/meta_{run}.json          training settings (and final metrics)
    {root}/{case}/edges.pkl, edges.json    ground-truth circuit edges (MIB names)

`run` is InterpBench's weight id (510 for iit 1, strict 0.4, behaviour 1). The published models
on the hub (`cybershiptrooper/InterpBench`) use the same folder per case but without the run
suffix (`{case}/ll_model.pth`, `{case}/ll_model_cfg.pkl`); `load_interp_bench_model` reads those.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from circuits_benchmark.training.ll_model import build_ll_model
from circuits_benchmark.utils.device import resolve_device

DEFAULT_ROOT = Path("results/models")
DEFAULT_RUN = "510"
HUB_REPO = "cybershiptrooper/InterpBench"


@dataclass
class StoredModel:
    """A loaded LL model with its config, training metadata and ground-truth edges."""

    model: HookedTransformer
    cfg: HookedTransformerConfig
    meta: dict[str, Any] = field(default_factory=dict)
    edges: list[Any] = field(default_factory=list)
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


def save_ll_model(
    model: HookedTransformer,
    case_id: str,
    run: str = DEFAULT_RUN,
    root: Path | str = DEFAULT_ROOT,
    meta: Optional[dict[str, Any]] = None,
    edges: Optional[list[str]] = None,
) -> Path:
    """Write the model in the InterpBench layout; returns the case folder."""
    paths = model_paths(case_id, run, root)
    paths["folder"].mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, paths["weights"])
    cfg = cfg_to_dict(model.cfg)
    with open(paths["cfg_pkl"], "wb") as f:
        pickle.dump(cfg, f)
    paths["cfg_json"].write_text(json.dumps(_jsonable(cfg), indent=2))
    paths["meta"].write_text(json.dumps(_jsonable(meta or {}), indent=2))
    if edges is not None:
        with open(paths["edges_pkl"], "wb") as f:
            pickle.dump(list(edges), f)
        paths["edges_json"].write_text(json.dumps(list(edges), indent=2))
    return paths["folder"]


def _read_cfg(paths: dict[str, Path]) -> HookedTransformerConfig:
    if paths["cfg_pkl"].exists():
        with open(paths["cfg_pkl"], "rb") as f:
            return cfg_from_dict(pickle.load(f))
    if paths["cfg_json"].exists():
        return cfg_from_dict(json.loads(paths["cfg_json"].read_text()))
    raise FileNotFoundError(f"no config {paths['cfg_pkl'].name} or {paths['cfg_json'].name} in {paths['folder']}")


def _read_edges(paths: dict[str, Path]) -> list[Any]:
    if paths["edges_json"].exists():
        return json.loads(paths["edges_json"].read_text())
    if paths["edges_pkl"].exists():
        with open(paths["edges_pkl"], "rb") as f:
            return list(pickle.load(f))
    return []


def _load_from_paths(paths: dict[str, Path], device: Optional[str | torch.device]) -> StoredModel:
    if not paths["weights"].exists():
        raise FileNotFoundError(f"no model weights at {paths['weights']}")
    dev = resolve_device(str(device) if device is not None else None)
    cfg = _read_cfg(paths)
    cfg.device = str(dev)
    model = build_ll_model(cfg, dev)
    state = torch.load(paths["weights"], map_location=dev, weights_only=True)
    result = model.load_state_dict(state, strict=False)
    param_names = {name for name, _ in model.named_parameters()}
    missing = [k for k in result.missing_keys if k in param_names]
    if missing:
        raise ValueError(f"{paths['weights']} lacks parameters {missing[:5]}{'...' if len(missing) > 5 else ''}")
    model.eval()
    meta = json.loads(paths["meta"].read_text()) if paths["meta"].exists() else {}
    return StoredModel(model, cfg, meta, _read_edges(paths), paths["folder"])


def load_ll_model(
    case_id: str,
    run: Optional[str] = DEFAULT_RUN,
    root: Path | str = DEFAULT_ROOT,
    device: Optional[str | torch.device] = None,
) -> StoredModel:
    """Load `{root}/{case_id}/ll_model_{run}.pth` with its config, meta and edges."""
    return _load_from_paths(model_paths(case_id, run, root), device)


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
