"""examples/quickstart.ipynb: stored clean; runs offline top to bottom and shows what its trained network learned."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def read() -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    return nb


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def this_interpreter_kernel():
    """A kernel manager that starts ipykernel on sys.executable, whatever `python3` kernelspec the machine has."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_stored_without_outputs():
    nb = read()
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    cells = code_cells(nb)
    assert cells
    for cell in cells:
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]


def parameter(nb: nbformat.NotebookNode, name: str) -> int:
    """The value the notebook's parameter cell (tagged "parameters") gives `name`."""
    cells = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    found = re.search(rf"^{name}\s*=\s*(\d+)", cells[0].source, re.M)
    assert found, f"the parameter cell sets {name}"
    return int(found[1])


@pytest.mark.slow
def test_runs_offline_and_shows_a_trained_network(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("WANDB_MODE", "disabled")
    nb = read()
    size = parameter(nb, "SIZE")
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint('executable:', sys.executable)"))
    NotebookClient(
        nb, km=this_interpreter_kernel(), timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    cells = code_cells(nb)
    for cell in cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{cell.source[:60]!r}: {errors[0].ename}: {errors[0].evalue}"
    text = "".join(stdout(cell) for cell in cells)
    assert f"executable: {sys.executable}" in text

    trained = re.search(r"^network: TinyNet val_acc (\S+) \(chance (\S+)\)$", text, re.M)
    assert trained and float(trained[1]) >= 0.9 > 0.5 > float(trained[2]), text
    assert (tmp_path / "runs" / "tinynet" / "checkpoints" / "best.ckpt").is_file()

    layers = re.findall(r"^inversion (\S+): normalized_error (\S+), PSNR (\S+) dB$", text, re.M)
    assert [layer for layer, _, _ in layers] == ["features.2", "features.6", "features.10"], text
    psnrs = [float(psnr) for _, _, psnr in layers]
    assert all(0 <= float(error) < 1 for _, error, _ in layers), text  # each layer's features are matched
    assert psnrs[0] > psnrs[-1], text  # the first block keeps more of the picture than the last

    models = re.findall(r"^class model (\w+): p = (\S+), top class: (\w+)$", text, re.M)
    assert [target for target, _, _ in models] == ["disc", "square", "triangle"], text
    assert all(top == target and float(p) > 0.9 for target, p, top in models), text

    assert re.search(r"^atlas features.6: 32 channels$", text, re.M), text

    boxes = re.findall(r"^saliency box: \[(\d+), (\d+), (\d+), (\d+)\] \(class (\w+)\)$", text, re.M)
    assert [kind for *_, kind in boxes] == ["disc", "square", "triangle"], text  # the held-out shapes, named
    for *corners, _ in boxes:
        x0, y0, x1, y1 = map(int, corners)
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size, corners

    figures = [o for cell in cells for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(figures) == 4  # the inversion table, the class models, the atlas, saliency
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs", "shapes"]  # its pictures and the one run kept
