"""Load the model a discovery method studies: a case's Tracr model, a trained SIIT model, or any checkpoint.

* ``load_model_for_study(case_id, "tracr")``: the compiled Tracr model (ground truth by construction).
* ``load_model_for_study(case_id, "siit", run=...)``: a trained LL model from the model store
  (``{root}/{case}/ll_model_{run}.pth``, written by ``main.py train iit``), with the case's
  compiled model alongside for its encoding and data.
* ``load_checkpoint_model(checkpoint, config)`` + ``task_from_token_file(model, tokens)``: any
  HookedTransformer (state dict + ``HookedTransformerConfig`` as JSON or InterpBench's ``.pkl``) on
  user batches stored in a ``.pt`` dict with ``clean_tokens``, ``corrupted_tokens`` (``[N, pos]``
  integer tensors) and optionally ``clean_mask``, ``corrupted_mask`` (attention masks, 1 = real
  token), ``positions`` (bool ``[N, pos]``, the positions whose outputs count; default: each
  example's last real token, MIB's convention) and ``is_categorical`` (default: ``d_vocab_out > 1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import torch
from transformer_lens import HookedTransformer

from circuits_benchmark.cases import get_case
from circuits_benchmark.cases.compiled import CompiledCase, compile_case
from circuits_benchmark.graph import prepare_model
from circuits_benchmark.tasks import PatchingTask

Tensor = torch.Tensor
PathLike = Union[str, Path]
MODEL_KINDS = ("tracr", "siit")


class ModelLoadError(ValueError):
    """A model, config or token file that cannot be used (message says why)."""


def load_model_for_study(case_id: str, model_kind: str = "tracr", run: Optional[str] = None,
                         root: Optional[PathLike] = None, device: Union[str, torch.device] = "cpu"
                         ) -> tuple[CompiledCase, HookedTransformer]:
    """``(compiled case, model)``: the Tracr model itself, or a trained SIIT model of the case.

    ``run`` and ``root`` locate SIIT models (defaults: the store's ``DEFAULT_RUN`` and ``DEFAULT_ROOT``).
    The model is prepared for the patching engine.
    """
    if model_kind not in MODEL_KINDS:
        raise ModelLoadError(f"unknown model kind {model_kind!r}; choose from {', '.join(MODEL_KINDS)}")
    compiled = compile_case(get_case(case_id), device=device)
    if model_kind == "tracr":
        return compiled, prepare_model(compiled.model)
    from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN, load_ll_model

    run = DEFAULT_RUN if run is None else str(run)
    root = DEFAULT_ROOT if root is None else Path(root)
    try:
        stored = load_ll_model(str(case_id), run, root, device)
    except FileNotFoundError as err:
        raise ModelLoadError(
            f"no trained SIIT model for case {case_id} (run {run}) under {root}: {err}. "
            f"Train one with `main.py train iit -i {case_id}` or pass --models-root / --run."
        ) from err
    model = stored.model
    if model.cfg.d_vocab != compiled.model.cfg.d_vocab:
        raise ModelLoadError(f"SIIT model vocabulary ({model.cfg.d_vocab}) differs from case {case_id}'s "
                             f"({compiled.model.cfg.d_vocab})")
    return compiled, prepare_model(model)


def load_checkpoint_model(checkpoint: PathLike, config: PathLike,
                          device: Union[str, torch.device] = "cpu") -> HookedTransformer:
    """A HookedTransformer from a state dict (``.pt`` / ``.pth``) and a config; prepared for patching.

    ``config`` is a ``.json`` of ``HookedTransformerConfig`` fields or a ``.pkl`` holding a dict or a
    ``HookedTransformerConfig`` object (InterpBench's ``ll_model_cfg.pkl``, TransformerLens 1.x included).
    Attention buffers older TransformerLens versions saved (``blocks.N.attn.mask`` / ``IGNORE``) are dropped.
    """
    from circuits_benchmark.training.store import fit_state_dict, read_cfg_file

    checkpoint, config = Path(checkpoint), Path(config)
    for path, what in ((checkpoint, "checkpoint"), (config, "config")):
        if not path.exists():
            raise ModelLoadError(f"{what} file {path} does not exist")
    try:
        cfg = read_cfg_file(config)
    except ValueError as err:
        raise ModelLoadError(str(err)) from err
    cfg.device = str(device)
    model = HookedTransformer(cfg)
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"checkpoint {checkpoint} must hold a state dict")
    state, problems = fit_state_dict(model, state)
    if problems:
        raise ModelLoadError(f"checkpoint {checkpoint} does not fit config {config}: " + "; ".join(problems))
    model.load_state_dict(state, strict=False)
    model.eval()
    return prepare_model(model)


def _tensor(data: dict, key: str, path: Path, required: bool = True) -> Optional[Tensor]:
    value = data.get(key)
    if value is None:
        if required:
            raise ModelLoadError(f"token file {path} lacks {key!r} (needs clean_tokens and corrupted_tokens)")
        return None
    value = torch.as_tensor(value)
    if value.ndim != 2:
        raise ModelLoadError(f"{key} in {path} must be [n_examples, pos], got shape {tuple(value.shape)}")
    return value


def last_real_token(mask: Optional[Tensor], shape: tuple[int, int]) -> Tensor:
    """Bool ``[N, pos]`` marking each example's last real token (last position without a mask)."""
    positions = torch.zeros(shape, dtype=torch.bool)
    if mask is None:
        positions[:, -1] = True
        return positions
    lengths = mask.long().sum(-1)
    if bool((lengths == 0).any()):
        raise ModelLoadError("an example has no real token (its attention mask is all zero)")
    # last index with mask 1 (works for left and right padding)
    last = shape[1] - 1 - torch.flip(mask.long(), dims=[-1]).argmax(-1)
    positions[torch.arange(shape[0]), last] = True
    return positions


def task_from_token_file(model: HookedTransformer, tokens: PathLike, is_categorical: Optional[bool] = None,
                         n_examples: Optional[int] = None, name: Optional[str] = None) -> PatchingTask:
    """A PatchingTask on user-provided clean / corrupted batches (see the module docstring for the format)."""
    path = Path(tokens)
    if not path.exists():
        raise ModelLoadError(f"token file {path} does not exist")
    data = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(data, dict):
        raise ModelLoadError(f"token file {path} must hold a dict with clean_tokens and corrupted_tokens")
    clean, corrupted = _tensor(data, "clean_tokens", path), _tensor(data, "corrupted_tokens", path)
    if clean.shape != corrupted.shape:
        raise ModelLoadError(f"clean_tokens {tuple(clean.shape)} and corrupted_tokens {tuple(corrupted.shape)} "
                             f"in {path} must have the same shape")
    for key, toks in (("clean_tokens", clean), ("corrupted_tokens", corrupted)):
        if toks.is_floating_point():
            raise ModelLoadError(f"{key} in {path} must hold integer token ids")
        if toks.numel() and (int(toks.min()) < 0 or int(toks.max()) >= model.cfg.d_vocab):
            raise ModelLoadError(f"{key} in {path} has ids outside [0, {model.cfg.d_vocab}) (the model's vocabulary)")
    if clean.shape[1] > model.cfg.n_ctx:
        raise ModelLoadError(f"sequences of {clean.shape[1]} tokens exceed the model's n_ctx {model.cfg.n_ctx}")
    masks = {}
    for key in ("clean_mask", "corrupted_mask"):
        masks[key] = _tensor(data, key, path, required=False)
        if masks[key] is not None and masks[key].shape != clean.shape:
            raise ModelLoadError(f"{key} {tuple(masks[key].shape)} in {path} does not match the tokens {tuple(clean.shape)}")
    positions = _tensor(data, "positions", path, required=False)
    if positions is None:
        positions = last_real_token(masks["clean_mask"], tuple(clean.shape))
    elif positions.shape != clean.shape:
        raise ModelLoadError(f"positions {tuple(positions.shape)} in {path} does not match the tokens {tuple(clean.shape)}")
    positions = positions.bool()
    if not bool(positions.any()):
        raise ModelLoadError(f"positions in {path} select no position")
    if n_examples is not None:
        keep = slice(0, int(n_examples))
        clean, corrupted, positions = clean[keep], corrupted[keep], positions[keep]
        masks = {k: None if v is None else v[keep] for k, v in masks.items()}
    if is_categorical is None:
        is_categorical = bool(data.get("is_categorical", model.cfg.d_vocab_out > 1))
    device = next(model.parameters()).device
    return PatchingTask(
        model=model,
        clean_tokens=clean.long().to(device),
        corrupted_tokens=corrupted.long().to(device),
        positions=positions.to(device),
        is_categorical=is_categorical,
        clean_mask=None if masks["clean_mask"] is None else masks["clean_mask"].to(device),
        corrupted_mask=None if masks["corrupted_mask"] is None else masks["corrupted_mask"].to(device),
        name=name or path.stem,
    )


def describe_model(model: HookedTransformer) -> dict[str, Any]:
    """Small JSON-able summary of a model's shape (for result metadata)."""
    cfg = model.cfg
    return {"n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "d_model": cfg.d_model, "d_vocab": cfg.d_vocab,
            "d_vocab_out": cfg.d_vocab_out, "n_ctx": cfg.n_ctx, "attn_only": bool(cfg.attn_only)}
