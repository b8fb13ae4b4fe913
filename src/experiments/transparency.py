"""The transparency map of an image whose parameterisation accumulates one (param=maco), saved beside it."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from convis.params.maco import transparency_map
from convis.runtime.writers import safe_name, save_image


def write_transparency(param: nn.Module, results: list[dict], names: list[str], output_dir: Path) -> None:
    """images/<name>_transparency.png for each image, its path as the result's `transparency_png`; else nothing."""
    accumulated = getattr(param, "transparency", None)
    if accumulated is None:
        return
    for result, name, picture in zip(results, names, transparency_map(accumulated)):
        png = save_image(picture, output_dir / "images" / f"{safe_name(name)}_transparency.png")
        result["transparency_png"] = str(png.relative_to(output_dir))
