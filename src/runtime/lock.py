"""A run owns its directory: a lock held for the run's life, which the system frees when the process dies.

A second run into a directory in use fails at once instead of overwriting the first one's files, and so does
a run into a directory that holds a finished run's results (unless it resumes that run); a run killed by
SIGKILL leaves nothing stuck, so `resume=` of it works. The lock file holds the owner's pid, and where a
full disk lets provenance.json say nothing, how the run ended: written in place, in the file system block
that the pid already holds, it needs no new space.
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
from convis.runtime.writers import DiskFull, is_full

LOCK = ".convis.lock"
RESULTS = "metrics.json"  # what a finished run leaves
NOTE_SIZE = 1024  # at most this many bytes of the lock file say how the run ended: within its first block
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
        owner = os.read(handle, 32).decode(errors="replace").partition("\n")[0].strip() or "unknown"
        os.close(handle)
        raise ConvisError(
            f"{directory} is in use by another run (pid {owner}): give this run a directory of its own "
            "(hydra.run.dir=... or hydra.sweep.dir=...), or wait for that run to end"
        ) from None
    try:
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
    except OSError as err:
        os.close(handle)
        if is_full(err):
            raise DiskFull(directory / LOCK) from err
        raise
    held[directory] = handle
    return True


def refuse_finished(directory: str | Path, resume: str | None = None, sweep: bool = False) -> None:
    """A ConvisError when `directory` (for a `sweep`: a job's directory in it) holds a finished run's results,
    unless this run resumes that run: a new run would replace them and leave the old run's files beside its own."""
    directory = Path(directory)
    if resume and Path(resume).resolve() == directory.resolve():
        return
    found = sorted(directory.glob(f"*/{RESULTS}")) if sweep else [directory / RESULTS]
    found = [path for path in found if path.is_file()]
    if found:
        shown = found[0].relative_to(directory)
        whose = f"finished jobs' results ({shown})" if sweep else f"a finished run's results ({shown})"
        raise ConvisError(
            f"{directory} holds {whose}: give this {'sweep' if sweep else 'run'} a directory of its own "
            f"(hydra.run.dir=..., hydra.sweep.dir=... or output_dir=...), or delete {directory} first"
        )


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


def note(directory: str | Path, status: str, message: str) -> bool:
    """Write how the run in `directory` ended into its lock file, in place (whether that worked)."""
    handle = held.get(Path(directory).resolve())
    if handle is None:
        return False
    line = f"{os.getpid()}\n{status}\n{' '.join(message.split())}".encode()[: NOTE_SIZE - 1] + b"\n"
    try:
        os.pwrite(handle, line, 0)
    except OSError:
        return False
    return True


def ended_with(directory: str | Path) -> tuple[str, str] | None:
    """The (status, message) a run that is over left in its lock file, None where it left none."""
    path = Path(directory) / LOCK
    if in_use(directory) is not False:
        return None
    lines = path.read_bytes().decode(errors="replace").split("\n")
    status, message = (line.strip() for line in [*lines, "", ""][1:3])
    return (status, message) if status and message else None


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
        take(config.hydra.run.dir, config.get("resume"))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        take(config.hydra.sweep.dir, sweep=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(config.hydra.sweep.dir)


def take(directory: str, resume: str | None = None, sweep: bool = False) -> None:
    """Own `directory` unless it holds a finished run's results, else end the process with the one-line error
    (Hydra turns a callback's errors into warnings)."""
    try:
        refuse_finished(directory, resume, sweep)
        acquire(directory)
    except ConvisError as err:
        print(f"convis: error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
