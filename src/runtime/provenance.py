"""What a run records about itself in `provenance.json`: how to rerun it and what it ran on.

Secrets never enter it: values of config keys and environment variables named like a key,
token, secret or password are replaced by REDACTED, wherever they appear.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
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

from convis.runtime.errors import user_error
from convis.runtime.lock import LOCK, note, refuse_finished
from convis.runtime.writers import DiskFull, is_full, write_json, write_text

FILE = "provenance.json"
REDACTED = "REDACTED"
# a name ending in key, token, secret or password (WANDB_API_KEY, hf_token, logger.password ...)
SECRET_NAME = re.compile(r"(key|token|secret|password|passwd|credentials?)$", re.IGNORECASE)
SECRET_ASSIGNMENT = re.compile(
    r"""(?P<name>[\w.+~/-]*?(?:key|token|secret|password|passwd|credentials?))=(?P<value>'[^']*'|"[^"]*"|[^\s'",]+)""",
    re.IGNORECASE,
)
SHORTEST_SECRET = 8  # shorter values of secret-named variables are not searched for in text: too many false hits
PACKAGES = ("torch", "torchvision", "lightning", "hydra-core", "omegaconf", "wandb", "captum", "numpy")
ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)


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


def command() -> list[str]:
    """The command line that started this process."""
    return [Path(sys.executable).name, *sys.argv]


def collect(cfg: DictConfig, overrides: list[str] | None = None) -> dict[str, Any]:
    """Everything provenance.json holds at the start of a run."""
    return {
        "command": command(),
        "overrides": job_overrides() if overrides is None else overrides,
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
def recorded(cfg: DictConfig, output_dir: Path, overrides: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Write provenance.json before the run and its end (status, time, error) after it.

    A directory that holds another finished run's results is refused first. A resumed run keeps the
    original record and appends the resuming command to `resumed`.
    """
    output_dir = Path(output_dir)
    refuse_finished(output_dir, cfg.get("resume"))
    record = read(output_dir) if cfg.get("resume") else None
    if record is None:
        record = collect(cfg, overrides)
    else:
        record.setdefault("resumed", []).append({"command": command(), "started": now()})
        record.update(status="running", finished=None, error=None)
    try:
        write_json(redact(record), output_dir / FILE)
        yield record
        record["status"] = "completed"
        finish(record, output_dir)
    except BaseException as err:
        interrupted = isinstance(err, (KeyboardInterrupt, SystemExit))
        record.update(status="interrupted" if interrupted else "failed", error=describe(user_error(err) or err))
        ended(record, output_dir)
        raise


def ended(record: dict[str, Any], output_dir: Path) -> None:
    """Write the record of a run that did not complete; where the disk is full, the lock file keeps its
    status and error instead (the run's own error says more than this one)."""
    try:
        finish(record, output_dir)
    except (OSError, DiskFull) as err:
        kept = note(output_dir, record["status"], scrub(record["error"]["message"]))
        log.warning(
            "could not record the end of the run in %s (%s)%s",
            output_dir / FILE,
            err,
            f"; its error is in {output_dir / LOCK}" if kept else "",
        )


def finish(record: dict[str, Any], output_dir: Path) -> None:
    """Write the record of a run that ended."""
    record["finished"] = now()
    write_json(redact(record), output_dir / FILE)


def describe(err: BaseException) -> dict[str, str]:
    """An exception as its type, its one-line message and its traceback (a library's no-space-left OSError
    as the DiskFull it is)."""
    shown = DiskFull(err.filename) if is_full(err) else err
    return {
        "type": type(shown).__name__,
        "message": str(shown).splitlines()[0] if str(shown) else type(shown).__name__,
        "traceback": "".join(traceback.format_exception(err)),
    }


def secret_values() -> list[str]:
    """The values of the environment's secret-named variables, longest first."""
    found = {value for name, value in os.environ.items() if SECRET_NAME.search(name) and len(value) >= SHORTEST_SECRET}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """`text` without secrets: the environment's secret values, and the value of any `name=value` with a secret name."""
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    return SECRET_ASSIGNMENT.sub(lambda m: f"{m['name']}={REDACTED}", text)


HYDRA_LOGGERS = ("hydra.", "hydra_plugins.")  # Hydra's and its plugins' modules: launchers log job overrides


def scrub_hydra_logs() -> None:
    """Make every log record of Hydra and its plugins (a launcher's "#0 : ..." lines) scrubbed of secrets."""
    made = logging.getLogRecordFactory()
    if getattr(made, "scrubs", False):
        return

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = made(*args, **kwargs)
        if record.name.startswith(HYDRA_LOGGERS):
            try:
                record.msg, record.args = scrub(record.getMessage()), None
            except (TypeError, ValueError):  # arguments that do not fit the message: logging says so when it emits
                pass
        return record

    scrubbed.scrubs = True
    logging.setLogRecordFactory(scrubbed)


def is_interpolation(value: object) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def redact(data: Any, secrets: list[str] | None = None) -> Any:
    """A copy of plain data (dicts, lists, strings) with every secret replaced by REDACTED.

    A secret-named key keeps an interpolation as written (${oc.env:WANDB_API_KEY} names, not holds, it).
    """
    secrets = secret_values() if secrets is None else secrets
    if isinstance(data, dict):
        return {
            key: REDACTED
            if SECRET_NAME.search(str(key)) and value is not None and not is_interpolation(value)
            else redact(value, secrets)
            for key, value in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [redact(item, secrets) for item in data]
    return scrub(data, secrets) if isinstance(data, str) else data


def redact_files(folder: Path) -> None:
    """Rewrite the YAML files Hydra wrote in `folder` (config, overrides, hydra) without their secrets."""
    for path in sorted(Path(folder).glob("*.yaml")):
        written = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        clean = redact(written)
        if clean != written:
            write_text(OmegaConf.to_yaml(clean), path)
