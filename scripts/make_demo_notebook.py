"""Write DEMO_InterpBench.ipynb (the source of truth for the notebook's cells is this script)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    new_markdown_cell(
        "# circuits-benchmark demo\n\n"
        "Compile a Tracr case to a HookedTransformer, look at its known circuit, train an SIIT model "
        "on it, run two discovery methods, and score them against the truth (AUROC, ROC curve, "
        "faithfulness). Runs on CPU in a couple of minutes; set `DEMO_EPOCHS` / `DEMO_EXAMPLES` to change "
        "the size (the test suite runs it with tiny settings)."
    ),
    new_code_cell(
        "import os\n"
        "import torch\n"
        "from IPython.display import Image, display\n\n"
        "torch.set_num_threads(1)\n"
        "CASE = os.environ.get('DEMO_CASE', '3')\n"
        "EPOCHS = int(os.environ.get('DEMO_EPOCHS', '40'))\n"
        "N_EXAMPLES = int(os.environ.get('DEMO_EXAMPLES', '32'))\n"
        "OUT = os.environ.get('DEMO_OUT', 'results/demo')\n"
        "os.makedirs(OUT, exist_ok=True)"
    ),
    new_markdown_cell("## 1. Compile a case and read off its true circuit"),
    new_code_cell(
        "from circuits_benchmark.cases import get_case\n"
        "from circuits_benchmark.cases.compiled import compile_case\n\n"
        "case = get_case(CASE)\n"
        "compiled = compile_case(case)\n"
        "print(case.description)\n"
        "inputs = case.sample_inputs(3, seed=0)\n"
        "for x, y in zip(inputs, compiled.run(inputs)):\n"
        "    print(x, '->', [round(v, 3) if isinstance(v, float) else v for v in y])\n"
        "truth = compiled.true_circuit()\n"
        "print(f'true circuit: {truth.n_edges} of {truth.graph.n_edges} edges:', truth.edge_names())"
    ),
    new_code_cell(
        "from circuits_benchmark.graph import draw_circuit\n\n"
        "display(Image(filename=str(draw_circuit(truth, f'{OUT}/true_circuit.png', title=f'case {CASE}: true circuit'))))"
    ),
    new_markdown_cell("## 2. Train an SIIT model that implements the same circuit"),
    new_code_cell(
        "from circuits_benchmark.training import TrainConfig, train\n\n"
        "result = train(case, TrainConfig(epochs=EPOCHS, n_train=512, n_test=128, batch_size=128), compiled=compiled,\n"
        "               progress=False)\n"
        "print({k: round(v, 3) for k, v in result.final_metrics.items() if '/' not in k})"
    ),
    new_markdown_cell("## 3. Run two discovery methods on the Tracr model"),
    new_code_cell(
        "from circuits_benchmark.methods import MethodConfig, run_method\n"
        "from circuits_benchmark.tasks import task_from_case\n\n"
        "task = task_from_case(compiled, N_EXAMPLES)\n"
        "graph = task.graph()\n"
        "found = {name: run_method(name, task, MethodConfig(progress=False), graph) for name in ['eap', 'acdc']}"
    ),
    new_markdown_cell("## 4. Score them: ROC against the known circuit, faithfulness"),
    new_code_cell(
        "from circuits_benchmark.evaluation import faithfulness_curves, rank_auroc\n"
        "from circuits_benchmark.evaluation.plots import plot_roc\n\n"
        "rocs = {name: rank_auroc(circuit, truth) for name, circuit in found.items()}\n"
        "for name, circuit in found.items():\n"
        "    f = faithfulness_curves(task, circuit, progress=False)\n"
        "    print(f'{name}: AUROC {rocs[name].auroc:.3f}, CPR {f.cpr:.3f}, CMD {f.cmd:.3f}')\n"
        "display(Image(filename=str(plot_roc(rocs, f'{OUT}/roc.png', title=f'case {CASE}'))))"
    ),
    new_code_cell(
        "best = found['acdc'].threshold(1e-3)\n"
        "display(Image(filename=str(draw_circuit(best, f'{OUT}/acdc_circuit.png', title='ACDC, tau=1e-3'))))"
    ),
    new_markdown_cell("## 5. The same methods on the trained SIIT model"),
    new_code_cell(
        "siit_task = task_from_case(compiled, N_EXAMPLES, model=result.ll_model)\n"
        "siit_graph = siit_task.graph()\n"
        "siit_truth = compiled.true_circuit(siit_graph)\n"
        "for name in ['eap', 'acdc']:\n"
        "    circuit = run_method(name, siit_task, MethodConfig(progress=False), siit_graph)\n"
        "    print(f'{name} on the SIIT model: AUROC {rank_auroc(circuit, siit_truth).auroc:.3f}')"
    ),
]


def main() -> None:
    notebook = new_notebook(cells=CELLS, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})
    path = Path(__file__).resolve().parents[1] / "DEMO_InterpBench.ipynb"
    nbformat.write(notebook, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
