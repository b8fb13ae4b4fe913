"""examples/quickstart.ipynb: stored clean, and runs top to bottom offline (shrunk to 32 px, 3 steps)."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"
SMALL = {"SIZE": 32, "STEPS": 3}


def read() -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    return nb


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def shrunk(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with its parameter cell (tagged "parameters") set to SMALL's sizes."""
    cells = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    source = cells[0].source
    for name, value in SMALL.items():
        source, count = re.subn(rf"^{name}\s*=\s*[^#\n]*", f"{name} = {value}  ", source, flags=re.M)
        assert count == 1, f"the parameter cell sets {name} once"
    cells[0].source = source
    return nb


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


@pytest.mark.slow
def test_runs_offline(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("WANDB_MODE", "disabled")
    nb = shrunk(read())
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

    assert re.search(r"^inversion results: 3$", text, re.M), text
    errors = re.findall(r"^  block[345]_conv1: normalized_error (\S+), PSNR (\S+) dB$", text, re.M)
    assert len(errors) == 3 and all(float(e) >= 0 and float(p) > 0 for e, p in errors), text
    found = re.search(r"^class model: tabby \(index 281\), logit \S+, p = (\S+), top class: .+$", text, re.M)
    assert found and 0 < float(found[1]) < 1, text
    for method in ("gradient", "gradcam"):
        box = re.search(rf"^{method} box: \[(\d+), (\d+), (\d+), (\d+)\] \(class tabby\)$", text, re.M)
        assert box, text
        x0, y0, x1, y1 = map(int, box.groups())
        assert 0 <= x0 < x1 <= SMALL["SIZE"] and 0 <= y0 < y1 <= SMALL["SIZE"], box[0]
    assert re.search(r"^own-network results: 2 \['features.1', 'features.4'\]$", text, re.M), text

    figures = [o for cell in cells for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(figures) == 4  # the inversion table, the class model, saliency, the own network
    assert not list(tmp_path.iterdir()), "the API writes files only with output_dir="
