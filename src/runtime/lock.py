"""A run owns its directory: a lock held for the run's life, which the system frees when the process dies.

A second run into a directory in use fails at once instead of overwriting the first one's files; a run
killed by SIGKILL leaves nothing stuck, so `resume=` of it works.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from convis.runtime.distributed import is_main_process
from convis.runtime.errors import ConvisError

LOCK = ".convis.lock"
held: dict[Path, int] = {}  # the directories this process owns, with the open lock file of each


def acquire(directory: str | Path) -> bool:
    """Own `directory` (made if missing); False when this process owns it already, a ConvisError when another does."""
    directory = Path(directory).resolve()
    if directory in held or not is_main_process():  # a DDP worker process works in its main process's directory
        return False
    directory.mkdir(parents=True, exist_ok=True)
    handle = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(handle, 32).decode(errors="replace").strip() or "unknown"
        os.close(handle)
        raise ConvisError(
            f"{directory} is in use by another run (pid {owner}): give this run a directory of its own "
            "(hydra.run.dir=... or hydra.sweep.dir=...), or wait for that run to end"
        ) from None
    os.ftruncate(handle, 0)
    os.write(handle, f"{os.getpid()}\n".encode())
    held[directory] = handle
    return True


def release(directory: str | Path) -> None:
    """Give up `directory` if this process owns it."""
    handle = held.pop(Path(directory).resolve(), None)
    if handle is not None:
        os.close(handle)  # closing the file frees the lock


@contextmanager
def owned(directory: str | Path) -> Iterator[None]:
    """Own `directory` for the block (and beyond, when this process owned it before)."""
    acquired = acquire(directory)
    try:
        yield
    finally:
        if acquired:
            release(directory)


def in_use(directory: str | Path) -> bool | None:
    """Whether a live process owns `directory` (None where no run ever locked it)."""
    path = Path(directory) / LOCK
    if not path.is_file():
        return None
    handle = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


class DirectoryLock(Callback):
    """Hydra callback: own the run (or sweep) directory before Hydra writes its .hydra/ files into it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        take(config.hydra.run.dir)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        take(config.hydra.sweep.dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(config.hydra.sweep.dir)


def take(directory: str) -> None:
    """Own `directory`, else end the process with the one-line error (Hydra turns a callback's errors into warnings)."""
    try:
        acquire(directory)
    except ConvisError as err:
        print(f"convis: error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
