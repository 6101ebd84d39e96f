"""Simplified IOI: task data, the high-level algorithm and its LL alignment, SIIT training and the store.

Entry points: `generate_prompts` / `corrupt_abc` / `corrupt_s2_io_flip` / `ioi_dataset` (data), `IOIHighLevel` (HL model),
`ioi_correspondence` / `ioi_true_edges` / `true_circuit` (alignment and ground truth),
`train_ioi(IOITrainConfig(...))`, `save_ioi_result`, `load_ioi_model`, `evaluate_ioi_model`, `ioi_task`.
"""

from circuits_benchmark.ioi.data import (
    DEFAULT_VOCAB, NAMES, SEQ_LEN, TEMPLATES, IOIBatch, IOIVocab, corrupt_abc, corrupt_s2_io_flip, generate_prompts,
    ioi_dataset,
)
from circuits_benchmark.ioi.hl_model import (
    HL_EDGES, HL_NODES, IOIHighLevel, circuit_layers, ioi_correspondence, ioi_true_edges, true_circuit,
)
from circuits_benchmark.ioi.pair import IOIPair
from circuits_benchmark.ioi.train import (
    IOI_CASE, IOI_NEXT_TOKEN_CASE, IOITrainConfig, IOITrainResult, build_ioi_pair, config_from_meta,
    evaluate_ioi_model, ioi_quality_gate, ioi_task, load_ioi_model, make_ioi_ll_config, save_ioi_result, train_ioi,
)

__all__ = [
    "DEFAULT_VOCAB", "NAMES", "SEQ_LEN", "TEMPLATES", "IOIBatch", "IOIVocab", "corrupt_abc", "corrupt_s2_io_flip", "generate_prompts",
    "ioi_dataset", "HL_EDGES", "HL_NODES", "IOIHighLevel", "circuit_layers", "ioi_correspondence", "ioi_true_edges",
    "true_circuit", "IOIPair", "IOI_CASE", "IOI_NEXT_TOKEN_CASE", "IOITrainConfig", "IOITrainResult",
    "build_ioi_pair", "config_from_meta", "evaluate_ioi_model", "ioi_quality_gate", "ioi_task", "load_ioi_model", "make_ioi_ll_config",
    "save_ioi_result", "train_ioi",
]
