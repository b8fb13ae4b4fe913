"""The docs' code runs as printed: Extending's objective term, parameterisation and prior from a notebook, and the
README's Python example (on random weights and one step, since ImageNet's weights cannot be downloaded here)."""

import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README, EXTENDING = ROOT / "README.md", ROOT / "docs" / "extending.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def notebook_block() -> str:
    """The Extending page's code block that starts with the notebook comment."""
    (block,) = [b for b in python_blocks(EXTENDING) if b.startswith("# an objective term")]
    return block


def test_the_extending_code_renders_its_own_objective(capsys):
    exec(compile(notebook_block(), str(EXTENDING), "exec"), {})
    loss, size = capsys.readouterr().out.split(maxsplit=1)
    assert math.isfinite(float(loss)) and size.strip() == "(32, 32)"


OFFLINE = (  # the README example with what this machine cannot have or wait for: random weights, one step each
    (r'weights="IMAGENET1K_V1"', "weights=None"),
    (r'weights="net.ckpt"', "weights=None"),
    (r"steps=\d+", "steps=1"),
)


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    (block,) = python_blocks(README)
    for pattern, offline in OFFLINE:
        assert re.search(pattern, block), pattern  # what is replaced is still in the README
        block = re.sub(pattern, offline, block)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)
    r = namespace["r"]
    assert [x["layer"] for x in r.metrics["results"]] == ["features.11", "features.18"] and len(r.images) == 2
    assert not any(tmp_path.iterdir())  # nothing written without output_dir
