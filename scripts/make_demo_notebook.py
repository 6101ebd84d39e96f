"""Write DEMO_InterpBench.ipynb (the source of truth for the notebook's cells is this script).

`python scripts/make_demo_notebook.py --execute` runs it and keeps the outputs (as committed).
"""

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    new_markdown_cell(
        "# circuits-benchmark demo\n\n"
        "Where InterpBench's demo starts: load a shipped SIIT model (a transformer trained so that a known "
        "circuit implements a Tracr program) and its true circuit, with no training. Then run two discovery "
        "methods on it, and score them against the truth (ROC curve, AUROC, faithfulness). Runs on CPU in "
        "about a minute; `DEMO_CASE`, `DEMO_EXAMPLES` and `DEMO_OUT` change the case, the data size and where "
        "pictures go (the tests run it with tiny settings)."
    ),
    new_code_cell(
        "import json\n"
        "import os\n"
        "import warnings\n"
        "import torch\n"
        "from IPython.display import Image, display\n\n"
        "warnings.filterwarnings('ignore', message='IProgress not found')  # tqdm without ipywidgets\n"
        "torch.set_num_threads(1)\n"
        "CASE = os.environ.get('DEMO_CASE', '29')\n"
        "N_EXAMPLES = int(os.environ.get('DEMO_EXAMPLES', '32'))\n"
        "OUT = os.environ.get('DEMO_OUT', 'results/demo')\n"
        "os.makedirs(OUT, exist_ok=True)"
    ),
    new_markdown_cell("## 1. A shipped SIIT model and its true circuit"),
    new_code_cell(
        "from circuits_benchmark.models import load_subject\n"
        "from circuits_benchmark.training.store import load_ll_model\n\n"
        "subject = load_subject(CASE, 'siit')  # circuits_benchmark/siit_models/{CASE}/ll_model_510.pth\n"
        "print(subject.compiled.case.description)\n"
        "cfg = subject.model.cfg\n"
        "print(f'SIIT model: {cfg.n_layers} layers x {cfg.n_heads} heads, d_model {cfg.d_model}')\n"
        "gate = load_ll_model(CASE).meta['gate']\n"
        "print('quality gate on 1,000 fresh pairs:', json.dumps({k: round(gate[k], 4) for k in\n"
        "      ('iia', 'strict_accuracy', 'accuracy', 'circuit_accuracy')}), 'passed' if gate['passed'] else 'FAILED')"
    ),
    new_code_cell(
        "from circuits_benchmark.graph import draw_circuit\n\n"
        "task = subject.task(N_EXAMPLES)\n"
        "graph = task.graph()\n"
        "truth = subject.truth(graph)\n"
        "print(f'true circuit: {truth.n_edges} of {graph.n_edges} edges')\n"
        "display(Image(filename=str(draw_circuit(truth, f'{OUT}/true_circuit.png', show_all_nodes=True,\n"
        "                                        title=f'case {CASE}: true circuit of the SIIT model'))))"
    ),
    new_markdown_cell("## 2. Run two discovery methods"),
    new_code_cell(
        "from circuits_benchmark.methods import MethodConfig, run_method\n\n"
        "found = {name: run_method(name, task, MethodConfig(progress=False), graph) for name in ['acdc', 'eap-ig-inputs']}"
    ),
    new_markdown_cell(
        "## 3. Score them against the known circuit\n\n"
        "The SIIT model's circuit is known per head (its q, k and v inputs are not told apart), so the ROC "
        "is at head level."
    ),
    new_code_cell(
        "from circuits_benchmark.evaluation import faithfulness_curves, rank_auroc\n"
        "from circuits_benchmark.evaluation.plots import plot_roc\n\n"
        "rocs = {name: rank_auroc(circuit, truth, 'head') for name, circuit in found.items()}\n"
        "for name, circuit in found.items():\n"
        "    f = faithfulness_curves(task, circuit, progress=False)\n"
        "    print(f'{name}: AUROC {rocs[name].auroc:.3f}, CPR {f.cpr:.3f}, CMD {f.cmd:.3f}')\n"
        "display(Image(filename=str(plot_roc(rocs, f'{OUT}/roc.png', title=f'case {CASE}, SIIT model'))))"
    ),
    new_code_cell(
        "acdc = found['acdc'].threshold(1e-3)\n"
        "print(f'ACDC at tau=1e-3 keeps {acdc.n_edges} edges')\n"
        "display(Image(filename=str(draw_circuit(acdc, f'{OUT}/acdc_circuit.png', title='ACDC, tau=1e-3'))))"
    ),
    new_markdown_cell("## 4. The same methods on the compiled Tracr model of the case"),
    new_code_cell(
        "tracr = load_subject(CASE, 'tracr')\n"
        "tracr_task = tracr.task(N_EXAMPLES)\n"
        "tracr_graph = tracr_task.graph()\n"
        "tracr_truth = tracr.truth(tracr_graph)\n"
        "for name in found:\n"
        "    circuit = run_method(name, tracr_task, MethodConfig(progress=False), tracr_graph)\n"
        "    print(f'{name} on the Tracr model: AUROC {rank_auroc(circuit, tracr_truth).auroc:.3f}')"
    ),
    new_markdown_cell(
        "## Next\n\n"
        "- every method on every shipped model, with the statistics: `python main.py bench --model siit -i all -m all`\n"
        "- train a model yourself: `python main.py train iit -i 3` (InterpBench's recipe; see `--help`)\n"
        "- the shipped models and their gate numbers: `circuits_benchmark/siit_models/MANIFEST_510.md`"
    ),
]


def main() -> None:
    notebook = new_notebook(cells=CELLS, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})
    path = Path(__file__).resolve().parents[1] / "DEMO_InterpBench.ipynb"
    if "--execute" in sys.argv:  # committed executed, so a reader sees the outputs without running it
        import nbclient

        nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(notebook, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
