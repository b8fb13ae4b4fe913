"""Stopping and resuming an optimisation: checkpoints written atomically, a clean stop on Ctrl-C or SIGTERM,
and partial/ for a run that stopped early. Each callback here is one of convis.runtime.loop.Loop's."""

from __future__ import annotations

import io
import logging
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from convis.runtime.errors import ConvisError, NonFiniteLoss
from convis.runtime.fingerprint import KEY, check_checkpoint
from convis.runtime.logs import PARTIAL
from convis.runtime.writers import write_bytes, write_json

CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"
log = logging.getLogger(__name__)
UNKEPT: set[Path] = set()  # run directories deleted after their run (the Python API's without output_dir=)


@contextmanager
def unkept(folder: Path) -> Iterator[None]:
    """For the block, `folder` is a run directory that will not stay: a stop there saves nothing and says so."""
    UNKEPT.add(folder)
    try:
        yield
    finally:
        UNKEPT.discard(folder)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, written beside the target and renamed into place.

    Lightning's own writer moves a file from the system's temp folder, which copies (and can
    leave half a checkpoint after a kill) when that folder is on another file system.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes(buffer.getvalue(), path)


class Fingerprint:
    """Store the run's fingerprint (convis.runtime.fingerprint) in every checkpoint it saves."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def on_save(self, loop: Any, state: dict[str, Any]) -> None:
        state[KEY] = self.values


class StopSaver:
    """After a Ctrl-C or SIGTERM (the loop finishes the step), save checkpoints/last.ckpt: resume=DIR goes on.

    After a clean stop or a non-finite loss it writes partial/metrics.json: why and at which step the run
    stopped, the last logged losses, the images (ImageLogger writes them) and how to resume. A run that
    completes removes partial/. In a directory that will not stay (`unkept`) it saves nothing and says so.
    """

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)

    def on_stop(self, loop: Any, reason: BaseException) -> None:
        if isinstance(reason, NonFiniteLoss):
            cause = {"stopped_by": "non-finite loss", "term": reason.term, "non_finite_at_step": reason.step}
            resumable = False
        elif loop.signals.requested is not None:
            cause, resumable = {"stopped_by": signal.Signals(loop.signals.requested).name}, True
        else:
            return
        if self.output_dir in UNKEPT:
            log.warning(
                "stopped at step %d: nothing of it is kept, as the call gave no output_dir=: "
                "give output_dir= to keep its images so far%s",
                loop.step,
                " and a checkpoint to continue from" if resumable else "",
            )
            return
        if resumable:
            loop.save(self.output_dir / CHECKPOINTS / LAST)
        self.write_partial(loop, cause, resumable)

    def on_end(self, loop: Any) -> None:
        shutil.rmtree(self.output_dir / PARTIAL, ignore_errors=True)

    def write_partial(self, loop: Any, reason: dict[str, Any], resumable: bool) -> None:
        folder = self.output_dir / PARTIAL
        resume = f"python run.py resume={self.output_dir}" if resumable else None
        record = {
            **reason,
            "stopped_at_step": loop.step,
            "losses": loop.values,
            "images": sorted(str(p.relative_to(self.output_dir)) for p in (folder / "images").glob("*.png")),
            "checkpoint": f"{CHECKPOINTS}/{LAST}" if resumable else None,
            "resume": resume,
        }
        write_json(record, folder / "metrics.json")
        log.warning(
            "stopped at step %d: images and losses so far in %s%s",
            loop.step,
            folder,
            f"; continue with: {resume}" if resume else "",
        )


class PeriodicCheckpoint:
    """checkpoints/last.ckpt every `every` steps, but none at the last step: `save_final` writes that one after
    the results, so that a full disk costs the checkpoint rather than the images and metrics."""

    def __init__(self, output_dir: str | Path, every: int) -> None:
        self.path, self.every = Path(output_dir) / CHECKPOINTS / LAST, every

    def on_step(self, loop: Any) -> None:
        if loop.step % self.every == 0 and loop.step < loop.steps:
            loop.save(self.path)


def save_final(loop: Any) -> None:
    """The finished run's checkpoint, where it saves checkpoints: call it once its results are written."""
    for callback in loop.callbacks:
        if isinstance(callback, PeriodicCheckpoint):
            loop.save(callback.path)


def checkpointing(output_dir: str | Path, every: int, fingerprint: dict[str, Any]) -> list[object]:
    """Save `checkpoints/last.ckpt` every `every` steps (0: only on a stop) for a resume, and stop cleanly.

    Each checkpoint holds the run's `fingerprint`, which a resume checks against its config.
    """
    periodic = [PeriodicCheckpoint(output_dir, every)] if every > 0 else []
    return [*periodic, Fingerprint(fingerprint), StopSaver(output_dir)]


def last_checkpoint(run_dir: str | Path, fingerprint: dict[str, Any]) -> Path:
    """The checkpoint a run directory resumes from, or a ConvisError saying why there is none or why it does
    not fit: unreadable, or saved by an optimisation configured otherwise than `fingerprint`."""
    path = Path(run_dir) / CHECKPOINTS / LAST
    if not path.is_file():
        raise ConvisError(
            f"resume={run_dir}: no checkpoint at {path}; resume takes a run directory that saved "
            "checkpoints (checkpoint_every > 0), or drop resume= to start afresh"
        )
    check_checkpoint(path, run_dir, fingerprint)
    return path
