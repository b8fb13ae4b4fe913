"""The README's Extending code runs as printed: an objective term, a parameterisation and a prior from a notebook."""

import math
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def notebook_block() -> str:
    """The README's code block that starts with the notebook comment of its Extending section."""
    extending = README.read_text().split("## Extending convis", 1)[1].split("\n## ", 1)[0]
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", extending, re.S) if b.startswith("# an objective term")]
    return block


def test_the_extending_code_renders_its_own_objective(capsys):
    exec(compile(notebook_block(), str(README), "exec"), {})
    loss, size = capsys.readouterr().out.split(maxsplit=1)
    assert math.isfinite(float(loss)) and size.strip() == "(32, 32)"
