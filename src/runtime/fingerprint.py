"""What shapes an optimisation, kept in each checkpoint so that a resume continues only the same optimisation.

Resuming after the run's config was edited would continue the old image under the new objective, and the
run's metrics, history and provenance would then disagree: the resume is refused, naming the difference.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from convis.runtime.errors import ConvisError, one_line

KEY = "convis_config"  # the checkpoint's entry
SHAPING = ("objective", "layer", "target", "steps", "image_size", "seed", "backbone", "dataset")
SHAPING += ("param", "prior", "optimizer")
SHOWN = 3  # differences named in the error
UNSET = "unset"
log = logging.getLogger(__name__)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as {dotted.key: value}; lists and scalars are values."""
    if not isinstance(data, dict) or not data:
        return {prefix[:-1]: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat


def fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """The resolved values of the config keys that shape the optimisation, as {dotted.key: value}."""
    picked = {key: cfg[key] for key in SHAPING if key in cfg}
    resolved = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v for k, v in picked.items()}
    return flatten(resolved)


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """`key: saved -> now` for each key whose value differs (`unset` where one side lacks it)."""
    keys = sorted(saved.keys() | now.keys())
    return [
        f"{k}: {saved.get(k, UNSET)} -> {now.get(k, UNSET)}" for k in keys if saved.get(k, UNSET) != now.get(k, UNSET)
    ]


def check_checkpoint(path: Path, run_dir: str | Path, expected: dict[str, Any]) -> None:
    """Fail unless `path` reads whole and was saved by an optimisation configured as `expected`."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated zip, a damaged pickle, an unreadable file
        raise ConvisError(
            f"resume={run_dir}: cannot read {path} ({one_line(str(err)) or type(err).__name__}): it is truncated "
            "or damaged; start afresh without resume="
        ) from err
    saved = checkpoint.get(KEY) if isinstance(checkpoint, dict) else None
    if saved is None:
        log.warning("%s does not say how its run was configured: resuming it unchecked", path)
        return
    found = differences(saved, expected)
    if found:
        more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        raise ConvisError(
            f"resume={run_dir}: the run's config no longer matches its checkpoint ({'; '.join(found[:SHOWN])}{more}): "
            "undo the edit to its .hydra/config.yaml, or start a new run with the new settings"
        )
