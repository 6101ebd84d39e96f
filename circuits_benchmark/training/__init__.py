"""SIIT / IIT / behaviour training of low-level models against compiled Tracr models, and their store.

Main entry points: `train(case, TrainConfig(...))`, `save_result`, `load_ll_model`,
`load_interp_bench_model`, `evaluate_model`, and `ModelPair` for the losses and metrics.
"""

from circuits_benchmark.training.correspondence import Correspondence, HLNode
from circuits_benchmark.training.ll_model import build_ll_model, make_ll_config
from circuits_benchmark.training.pair import ModelPair, run_patched
from circuits_benchmark.training.store import (
    DEFAULT_ROOT,
    DEFAULT_RUN,
    HUB_REPO,
    StoredModel,
    load_interp_bench_model,
    load_ll_model,
    save_ll_model,
)
from circuits_benchmark.training.trainer import (
    MODEL_PAIRS,
    TrainConfig,
    TrainResult,
    build_pair,
    evaluate_model,
    quality_gate,
    save_result,
    train,
    train_and_store,
)

__all__ = [
    "Correspondence", "HLNode", "build_ll_model", "make_ll_config", "ModelPair", "run_patched",
    "DEFAULT_ROOT", "DEFAULT_RUN", "HUB_REPO", "StoredModel", "load_interp_bench_model", "load_ll_model",
    "save_ll_model", "MODEL_PAIRS", "TrainConfig", "TrainResult", "build_pair", "evaluate_model",
    "save_result", "train", "train_and_store", "quality_gate",
]
