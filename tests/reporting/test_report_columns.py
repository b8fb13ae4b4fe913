"""scripts/report.py --columns N wraps a one-key grid after N pictures."""

import importlib.util
import re

import pytest

from tests.reporting.test_report import LAYERS, ROOT, inversion, make_run


@pytest.fixture
def script():
    spec = importlib.util.spec_from_file_location("report_script", ROOT / "scripts" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sweep(tmp_path):
    """Three jobs, one layer each; their configs leave report.columns unset."""
    for n, layer in enumerate(LAYERS):
        make_run(tmp_path / str(n), [f"layer={layer}"], [inversion(layer, 0.1 * (n + 1))], seed=n)
        (tmp_path / str(n) / "history.csv").unlink()  # no loss curves to draw: only the grid matters here
    return tmp_path


def layers_per_row(html: str) -> list[list[str]]:
    """The picture grid's rows, each as the layers of its pictures (their alt texts start with it)."""
    grid = re.findall(r'<table class="grid">(.*?)</table>', html, re.S)[0]
    rows = [row for row in re.findall(r"<tr>(.*?)</tr>", grid, re.S) if "<img" in row]
    return [re.findall(r'<img class="picture" [^>]*alt="(block\d_conv\d)', row) for row in rows]


@pytest.mark.parametrize(
    ("argv", "rows"),
    [
        ([], [LAYERS]),
        (["--columns", "2"], [LAYERS[:2], LAYERS[2:]]),
        (["--columns", "1"], [[layer] for layer in LAYERS]),
    ],
)
def test_columns_wraps_the_grid(script, sweep, capsys, argv, rows):
    assert script.main([str(sweep), *argv]) == 0
    assert f"report: {sweep / 'report.html'}" in capsys.readouterr().out
    html = (sweep / "report.html").read_text()
    assert layers_per_row(html) == rows
    markdown = (sweep / "report.md").read_text()
    picture_rows = [line for line in markdown.splitlines() if line.startswith("|") and "![" in line]
    assert len(picture_rows) == len(rows)
