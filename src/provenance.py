"""What a run records about itself in `provenance.json`: how to rerun it and what it ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from src.errors import user_error
from src.outputs import write_json

FILE = "provenance.json"
PACKAGES = ("torch", "torchvision", "lightning", "hydra-core", "omegaconf", "wandb", "captum", "numpy")
ROOT = Path(__file__).resolve().parents[1]


def now() -> str:
    """The local time with its UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def git_state(root: Path = ROOT) -> dict[str, Any]:
    """The checked-out commit and whether tracked files differ from it (null for both without git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def versions() -> dict[str, str | None]:
    """Python's and each key package's installed version (null when it is not installed)."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"python": platform.python_version(), **{name: version(name) for name in PACKAGES}}


def cpu_model() -> str:
    """The CPU's marketing name where the OS tells it, else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device() -> dict[str, Any]:
    """The machine a run's numbers come from: OS, CPU, torch threads and CUDA device."""
    cuda = torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
    }


def composed_config(cfg: DictConfig) -> dict:
    """The config as the run used it: interpolations resolved where they can be."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an interpolation that only resolves inside Hydra: keep it as written
        return OmegaConf.to_container(cfg, resolve=False)


def job_overrides() -> list[str] | None:
    """The command-line overrides of this job (one job's own values in a multirun), if Hydra runs it."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else None


def collect(cfg: DictConfig) -> dict[str, Any]:
    """Everything provenance.json holds at the start of a run."""
    return {
        "command": [Path(sys.executable).name, *sys.argv],
        "overrides": job_overrides(),
        "seed": cfg.get("seed"),
        "host": platform.node(),
        "pid": os.getpid(),
        "git": git_state(),
        "versions": versions(),
        "device": device(),
        "started": now(),
        "finished": None,
        "status": "running",
        "config": composed_config(cfg),
    }


def read(output_dir: Path) -> dict[str, Any] | None:
    """A run directory's provenance, or None when it has none."""
    path = Path(output_dir) / FILE
    return json.loads(path.read_text()) if path.is_file() else None


@contextmanager
def recorded(cfg: DictConfig, output_dir: Path) -> Iterator[dict[str, Any]]:
    """Write provenance.json before the run and its end (status, time, error) after it.

    A resumed run keeps the original record and appends the resuming command to `resumed`.
    """
    output_dir = Path(output_dir)
    record = read(output_dir) if cfg.get("resume") else None
    if record is None:
        record = collect(cfg)
    else:
        record.setdefault("resumed", []).append({"command": [Path(sys.executable).name, *sys.argv], "started": now()})
        record.update(status="running", finished=None, error=None)
    write_json(record, output_dir / FILE)
    try:
        yield record
    except BaseException as err:
        interrupted = isinstance(err, (KeyboardInterrupt, SystemExit))
        record.update(status="interrupted" if interrupted else "failed", error=describe(user_error(err) or err))
        raise
    else:
        record["status"] = "completed"
    finally:
        record["finished"] = now()
        write_json(record, output_dir / FILE)


def describe(err: BaseException) -> dict[str, str]:
    """An exception as its type, its one-line message and its traceback."""
    return {
        "type": type(err).__name__,
        "message": str(err).splitlines()[0] if str(err) else type(err).__name__,
        "traceback": "".join(traceback.format_exception(err)),
    }
