"""Evaluation of discovered circuits: AUROC against the truth, MIB faithfulness (CPR / CMD), realism.

* :mod:`.auroc`: rank-based AUROC (sklearn, raw |scores|) and MIB's greedy-budget AUROC, at edge,
  head (q/k/v collapsed) and node level.
* :mod:`.faithfulness`: f curves at MIB's fractions, CPR (signed selection) and CMD (absolute).
* :mod:`.realism`: effect of ablating each node alone, in vs out of the true circuit, per model.
* :mod:`.results`, :mod:`.bulk`: circuit files of a results folder, bulk evaluation, CSV / JSON,
  the methods x cases table; :mod:`.plots`: ROC and faithfulness pictures.
"""

from .auroc import (
    MIB_BUDGETS,
    DegenerateTruthError,
    RocResult,
    auroc_report,
    edge_labels_and_scores,
    mib_auroc,
    node_labels_and_scores,
    rank_auroc,
    rank_auroc_from_labels,
)
from .faithfulness import (
    FRACTIONS,
    FaithfulnessCurve,
    FaithfulnessResult,
    FaithfulnessUndefinedError,
    area_under_curve,
    circuit_faithfulness,
    cmd,
    cpr,
    curve_circuits,
    faithfulness_curves,
    item_count,
    weighted_edge_count,
)
from .realism import NodeEffect, RealismSummary, format_realism_table, gt_node_realism, node_realism, realism_table
from .results import CircuitFile, find_circuit_files, format_results_table, parse_circuit_path, read_rows, write_rows

__all__ = [
    "MIB_BUDGETS", "DegenerateTruthError", "RocResult", "auroc_report", "edge_labels_and_scores", "mib_auroc",
    "node_labels_and_scores", "rank_auroc", "rank_auroc_from_labels",
    "FRACTIONS", "FaithfulnessCurve", "FaithfulnessResult", "FaithfulnessUndefinedError", "area_under_curve",
    "circuit_faithfulness", "cmd", "cpr", "curve_circuits", "faithfulness_curves", "item_count", "weighted_edge_count",
    "NodeEffect", "RealismSummary", "format_realism_table", "gt_node_realism", "node_realism", "realism_table",
    "CircuitFile", "find_circuit_files", "format_results_table", "parse_circuit_path", "read_rows", "write_rows",
]
