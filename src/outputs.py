"""Writing a run's files: PNGs and JSON, atomically, under safe names."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image


def safe_name(text: str) -> str:
    """A file-name stem from user input: no separators, no leading dots, nothing outside [A-Za-z0-9._-]."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).lstrip(".")
    return cleaned[:120] or "unnamed"


def denormalise(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Normalised network input back to [0, 1] pixels (works on one image or a batch)."""
    shape = (-1, 1, 1)
    mean_t = torch.tensor(mean, dtype=image.dtype, device=image.device).view(shape)
    std_t = torch.tensor(std, dtype=image.dtype, device=image.device).view(shape)
    return (image * std_t + mean_t).clamp(0, 1)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Save a [3, H, W] image with values in [0, 1] as an 8-bit PNG."""
    array = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path = Path(path)
    _atomic_write(path, lambda file: Image.fromarray(np.ascontiguousarray(array)).save(file, format="PNG"))
    return path


def write_json(data: Any, path: str | Path) -> Path:
    """Write `data` as indented JSON."""
    path = Path(path)
    _atomic_write(path, lambda file: file.write(json.dumps(data, indent=2, default=str).encode()))
    return path
