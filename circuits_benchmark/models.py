"""Load the model a discovery method studies: a case's Tracr model, a trained SIIT model, or any checkpoint.

* ``load_model_for_study(case_id, "tracr")``: the compiled Tracr model (ground truth by construction).
* ``load_model_for_study(case_id, "siit", run=...)``: a trained LL model from the model store
  (``{root}/{case}/ll_model_{run}.pth``, written by ``main.py train iit``), with the case's
  compiled model alongside for its encoding and data.
* ``load_model_for_study(case_id, "interpbench", root=DIR)``: InterpBench's published model of the
  case, from a local folder in its layout (``DIR/{case}/ll_model.pth``, ``ll_model_cfg.pkl``) or,
  without ``root``, from the Hugging Face hub (a clear error when the hub cannot be reached).
* ``load_subject(case_id, kind, run, root)``: a ``Subject`` (model, task, true circuit, reference
  outputs) for a Tracr case or the simplified IOI task (``ioi`` / ``ioi_next_token``): what the
  ``run`` and ``eval`` commands study.
* ``load_checkpoint_model(checkpoint, config)`` + ``task_from_token_file(model, tokens)``: any
  HookedTransformer (state dict + ``HookedTransformerConfig`` as JSON or InterpBench's ``.pkl``) on
  user batches stored in a ``.pt`` dict with ``clean_tokens``, ``corrupted_tokens`` (``[N, pos]``
  integer tensors) and optionally ``clean_mask``, ``corrupted_mask`` (attention masks, 1 = real
  token), ``positions`` (bool ``[N, pos]``, the positions whose outputs count; default: each
  example's last real token, MIB's convention) and ``is_categorical`` (default: ``d_vocab_out > 1``).
"""

from __future__ import annotations

import warnings

from dataclasses import dataclass, field
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
MODEL_KINDS = ("tracr", "siit", "interpbench")
IOI_CASES = ("ioi", "ioi_next_token")


class ModelLoadError(ValueError):
    """A model, config or token file that cannot be used (message says why)."""


class HubUnavailableError(ModelLoadError):
    """InterpBench's published models cannot be had from the hub (offline, or the hub failed)."""


def load_model_for_study(case_id: str, model_kind: str = "tracr", run: Optional[str] = None,
                         root: Optional[PathLike] = None, device: Union[str, torch.device] = "cpu"
                         ) -> tuple[CompiledCase, HookedTransformer]:
    """``(compiled case, model)``: the Tracr model itself, a trained SIIT model or InterpBench's model of the case.

    ``run`` and ``root`` locate SIIT models (defaults: the store's ``DEFAULT_RUN`` and ``DEFAULT_ROOT``);
    for ``interpbench``, ``root`` is a local folder in InterpBench's layout (default: the hub).
    The model is prepared for the patching engine.
    """
    if model_kind not in MODEL_KINDS:
        raise ModelLoadError(f"unknown model kind {model_kind!r}; choose from {', '.join(MODEL_KINDS)}")
    if is_ioi(case_id):
        raise ModelLoadError(f"{case_id} is the IOI task, not a Tracr case: use load_subject")
    compiled = compile_case(get_case(case_id), device=device)
    if model_kind == "tracr":
        return compiled, prepare_model(compiled.model)
    if model_kind == "interpbench":
        model = load_interpbench(str(case_id), root, device).model
        _check_fits(compiled, model, "InterpBench model")
        return compiled, prepare_model(model)
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
    warn_if_gate_failed(str(case_id), stored.meta)
    model = stored.model
    _check_fits(compiled, model, "SIIT model")
    return compiled, prepare_model(model)


class GateWarning(UserWarning):
    """A stored SIIT model used as ground truth fails the quality gate."""


def warn_if_gate_failed(case_id: str, meta: dict[str, Any]) -> None:
    """Warn when a stored model's meta says it fails the quality gate: its circuit is then not a reliable
    ground truth (scores against it mean less); the warning says where it falls short."""
    from circuits_benchmark.training.manifest import shortfall

    gate = meta.get("gate") or {}
    if gate and not gate.get("passed", False):
        warnings.warn(f"the SIIT model of case {case_id} fails the quality gate ({shortfall(gate)}): its circuit "
                      "is not a reliable ground truth (see the manifest next to the model store)",
                      GateWarning, stacklevel=3)


def _check_fits(compiled: CompiledCase, model: HookedTransformer, what: str) -> None:
    case_id = compiled.case.case_id
    for name in ("d_vocab", "d_vocab_out"):
        if getattr(model.cfg, name) != getattr(compiled.model.cfg, name):
            label = "vocabulary" if name == "d_vocab" else "output size"
            raise ModelLoadError(f"{what} {label} ({getattr(model.cfg, name)}) differs from case {case_id}'s "
                                 f"({getattr(compiled.model.cfg, name)})")


def is_ioi(case_id: Any) -> bool:
    """Whether ``case_id`` names the simplified IOI task (``ioi``, ``ioi_next_token``)."""
    return str(case_id).lower() in IOI_CASES


def ioi_case_id(case_id: str, next_token: bool = False) -> str:
    """``ioi`` with ``next_token`` -> ``ioi_next_token`` (the folder `train ioi --next-token` stores)."""
    case_id = str(case_id).lower()
    return "ioi_next_token" if next_token or case_id == "ioi_next_token" else "ioi"


# ---------------------------------------------------------------------------- InterpBench's published models
INTERPBENCH_LAYOUT = "{root}/{case}/ll_model.pth and {root}/{case}/ll_model_cfg.pkl"
HUB_DOWNLOAD_HINT = ("download the repository where the hub is reachable (`huggingface-cli download "
                     "cybershiptrooper/InterpBench --local-dir DIR`) and pass --interpbench-dir DIR (or set "
                     "INTERPBENCH_DIR)")


def hub_unreachable() -> Optional[str]:
    """Why the Hugging Face hub cannot be reached (None: it may be). Only a quick DNS look-up, no request."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # a proxy resolves names for us
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError as err:
        return f"{host} cannot be resolved ({err.strerror or err})"
    return None


def interpbench_cases(root: PathLike) -> list[str]:
    """Benchmark case ids with a model in a local InterpBench folder (``{root}/{case}/ll_model.pth``)."""
    from circuits_benchmark.cases import case_ids

    root = Path(root)
    if not root.is_dir():
        raise ModelLoadError(f"no InterpBench folder {root} (expected {INTERPBENCH_LAYOUT})")
    return [c for c in case_ids() if (root / c / "ll_model.pth").exists()]


def load_interpbench(case_id: str, root: Optional[PathLike] = None,
                     device: Union[str, torch.device] = "cpu"):
    """InterpBench's published model of a case (a ``training.store.StoredModel``).

    From ``root`` (a local folder in InterpBench's layout) if given, else from the hub
    (``cybershiptrooper/InterpBench``); offline, only the local hub cache is tried and a missing
    model raises a ``ModelLoadError`` saying how to get it.
    """
    from circuits_benchmark.training.store import HUB_REPO, load_interp_bench_model, load_ll_model

    if is_ioi(case_id):
        raise ModelLoadError("InterpBench's IOI model works on GPT-2 tokens and its own IOI data; our IOI task is "
                             "a different, simplified one: use our IOI model (--model siit -i ioi, trained with "
                             "`main.py train ioi`)")
    if root is not None:
        try:
            return load_ll_model(str(case_id), None, root, device)
        except FileNotFoundError as err:
            raise ModelLoadError(f"no InterpBench model for case {case_id} under {root}: {err} (expected "
                                 f"{INTERPBENCH_LAYOUT})") from err
    offline = hub_unreachable()
    download = None
    if offline:
        from huggingface_hub import hf_hub_download

        def download(**kwargs: Any) -> str:  # the local hub cache only: no request, no retries
            return hf_hub_download(local_files_only=True, **kwargs)
    try:
        return load_interp_bench_model(str(case_id), None, device=device, download=download)
    except FileNotFoundError as err:
        if offline:
            raise HubUnavailableError(f"InterpBench's model for case {case_id} is not in the local hub cache and the "
                                 f"Hugging Face hub cannot be reached ({offline}): {HUB_DOWNLOAD_HINT}") from err
        raise HubUnavailableError(f"could not get InterpBench's model for case {case_id} from {HUB_REPO}: {err}. "
                             f"Offline? {HUB_DOWNLOAD_HINT}") from err


# ---------------------------------------------------------------------------- IOI
def load_ioi_for_study(case_id: str = "ioi", run: Optional[str] = None, root: Optional[PathLike] = None,
                       device: Union[str, torch.device] = "cpu"):
    """The stored IOI model (``{root}/ioi[_next_token]/ll_model_{run}.pth``) as a ``StoredModel``."""
    from circuits_benchmark.training.store import DEFAULT_ROOT, DEFAULT_RUN, load_ll_model

    case_id = ioi_case_id(case_id)
    run = DEFAULT_RUN if run is None else str(run)
    root = DEFAULT_ROOT if root is None else Path(root)
    try:
        return load_ll_model(case_id, run, root, device)
    except FileNotFoundError as err:
        flags = " --next-token" if case_id == "ioi_next_token" else ""
        raise ModelLoadError(
            f"no trained IOI model {case_id} (run {run}) under {root}: train it with `main.py train ioi{flags}` "
            f"(add --include-mlp for the circuit with MLP 0; --output-dir DIR --run {run} to store it elsewhere) "
            f"or pass --models-root / --run") from err


# ---------------------------------------------------------------------------- what a command studies
@dataclass
class Subject:
    """A model to study with its task data, true circuit and the outputs it should produce.

    ``kind``: tracr, siit or interpbench; ``case_id``: a Tracr case id or ``ioi`` / ``ioi_next_token``.
    ``label`` is the results folder name (``tracr``, ``siit``, ``siit_{run}``, ``interpbench``).
    """

    case_id: str
    kind: str
    run: Optional[str]
    model: HookedTransformer
    compiled: Optional[CompiledCase] = None
    meta: dict = field(default_factory=dict)
    source: str = ""

    @property
    def label(self) -> str:
        return self.kind if self.run is None or self.kind != "siit" else f"siit_{self.run}"

    @property
    def is_ioi(self) -> bool:
        return is_ioi(self.case_id)

    @property
    def head_level_truth(self) -> bool:
        """SIIT-trained models know their circuit per head (q/k/v not separated), the Tracr model per edge."""
        return self.kind != "tracr"

    def ioi_config(self):
        from circuits_benchmark.ioi import config_from_meta

        return config_from_meta(self.meta)

    def task(self, n_examples: int = 64, seed: int = 0) -> PatchingTask:
        if self.is_ioi:
            from circuits_benchmark.ioi import ioi_task

            return ioi_task(self.model, n_examples, seed)
        from circuits_benchmark.tasks import task_from_case

        return task_from_case(self.compiled, n_examples, seed, model=self.model)

    def truth(self, graph: Any, ablation: str = "patching") -> Any:
        """The true circuit on ``graph`` (this model's) for circuits found under ``ablation``
        (``truth_ablation_for``)."""
        if self.is_ioi:
            from circuits_benchmark.ioi import ioi_correspondence, true_circuit

            config = self.ioi_config()
            corr = ioi_correspondence(self.model.cfg.n_layers, self.model.cfg.n_heads, config.heads_per_node,
                                      config.include_mlp)
            return true_circuit(graph, corr)
        from circuits_benchmark.evaluation.results import truth_ablation_for

        return self.compiled.true_circuit(graph, truth_ablation_for(ablation, self.kind))

    @torch.no_grad()
    def reference(self, task: PatchingTask) -> tuple[Tensor, Tensor]:
        """``(reference logits, defined positions)``: the high-level outputs on the task's clean inputs
        (Tracr model / the IOI algorithm) and the task positions where they are defined."""
        if self.is_ioi:
            from circuits_benchmark.ioi import IOIHighLevel
            from circuits_benchmark.ioi.pair import MIN_MARGIN

            hl = IOIHighLevel().to(task.device)
            logits = hl(task.clean_tokens)
            top = logits.topk(2, dim=-1).values
            return logits, task.positions & ((top[..., 0] - top[..., 1]) > MIN_MARGIN)
        logits = self.compiled.model(task.clean_tokens, attention_mask=task.clean_mask)
        defined = task.positions.clone()
        if task.is_categorical:
            defined &= logits.max(dim=-1).values > self.compiled.undefined_below
        return logits, defined


def parse_model_label(label: str) -> tuple[str, Optional[str]]:
    """A results folder name -> ``(kind, run)``: ``tracr``, ``siit``, ``siit_{run}``, ``interpbench``."""
    if label in ("tracr", "interpbench", "siit"):
        return label, None
    if label.startswith(("siit_", "siit-")):
        return "siit", label[5:]
    raise ModelLoadError(f"unknown model {label!r}: expected tracr, siit, siit_{{run}} or interpbench")


def interpbench_dir(value: Optional[PathLike] = None) -> Optional[Path]:
    """The local InterpBench folder: ``value``, else ``$INTERPBENCH_DIR``, else None (the hub)."""
    import os

    value = value or os.environ.get("INTERPBENCH_DIR") or None
    return None if value is None else Path(value)


def load_subject(case_id: str, kind: Optional[str] = None, run: Optional[str] = None,
                 root: Optional[PathLike] = None, device: Union[str, torch.device] = "cpu",
                 next_token: bool = False, interpbench_root: Optional[PathLike] = None) -> Subject:
    """The ``Subject`` of a command: a Tracr case (``kind`` tracr by default) or IOI (siit by default).

    ``root`` / ``run`` locate SIIT models; ``interpbench_root`` is a local folder of InterpBench's
    published models (default ``$INTERPBENCH_DIR``, else the hub). ``next_token`` picks IOI's
    next-token model (``ioi_next_token``).
    """
    case_id = str(case_id)
    if is_ioi(case_id):
        case_id = ioi_case_id(case_id, next_token)
        kind = kind or "siit"
        if kind == "tracr":
            raise ModelLoadError("the IOI task has no Tracr model: use its trained model (--model siit, the default "
                                 "for -i ioi; `main.py train ioi` trains it)")
        if kind == "interpbench":
            load_interpbench(case_id)  # raises with the reason
        stored = load_ioi_for_study(case_id, run, root, device)
        warn_if_gate_failed(case_id, stored.meta)
        return Subject(case_id, "siit", run, prepare_model(stored.model), None, stored.meta, str(stored.folder))
    if next_token:
        raise ModelLoadError("--next-token applies to the IOI task (-i ioi) only")
    kind = kind or "tracr"
    if kind == "interpbench":
        local = interpbench_dir(interpbench_root)
        compiled, model = load_model_for_study(case_id, kind, None, local, device)
        return Subject(compiled.case.case_id, kind, None, model, compiled, {},
                       str(local / compiled.case.case_id) if local else "the Hugging Face hub")
    compiled, model = load_model_for_study(case_id, kind, run, root, device)
    if kind == "tracr":
        source = "the compiled Tracr model"
    else:
        from circuits_benchmark.training.store import DEFAULT_ROOT

        source = str(Path(root or DEFAULT_ROOT) / compiled.case.case_id)
    return Subject(compiled.case.case_id, kind, run, model, compiled, {}, source)


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
