"""Stopping and resuming an optimisation: checkpoints written atomically, a clean stop on Ctrl-C or SIGTERM,
the random state kept across a resume, and partial/ for a run that stopped early."""

from __future__ import annotations

import io
import logging
import shutil
import signal
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from convis.runtime.errors import ConvisError, NonFiniteLoss
from convis.runtime.fingerprint import Fingerprint, check_checkpoint
from convis.runtime.writers import write_bytes, write_json

CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"
PARTIAL = "partial"  # what a run that stopped early leaves: images/ and metrics.json
log = logging.getLogger(__name__)


def stopped_early(exception: BaseException) -> bool:
    """Whether a run ended by a clean stop (Ctrl-C, SIGTERM) or a non-finite loss, whose state is worth keeping."""
    return isinstance(exception, (KeyboardInterrupt, SIGTERMException, NonFiniteLoss))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, written beside the target and renamed into place.

    Lightning's own writer moves a file from the system's temp folder, which copies (and can
    leave half a checkpoint after a kill) when that folder is on another file system.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes(buffer.getvalue(), path)


class RandomState(L.Callback):
    """Keep torch's random generators (CPU and CUDA) in every checkpoint and restore them after a resume.

    They are restored right before the first step after the resume, so the random transforms
    (jitter) draw what the uninterrupted run drew, whatever ran in between (e.g. the data loader's seed).
    """

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        checkpoint["rng_states"] = {"torch": torch.get_rng_state(), "cuda": cuda}

    def on_load_checkpoint(self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self.pending = checkpoint.get("rng_states")

    def on_train_batch_start(self, *_: object) -> None:
        if self.pending is not None:
            torch.set_rng_state(self.pending["torch"])
            if self.pending["cuda"]:
                torch.cuda.set_rng_state_all(self.pending["cuda"])
            self.pending = None


class StopSaver(Checkpoint):
    """On Ctrl-C or SIGTERM, finish the current step, save checkpoints/last.ckpt and stop: resume=DIR goes on.

    A second Ctrl-C stops at once, saving nothing. After a clean stop or a non-finite loss it
    writes partial/metrics.json: why and at which step the run stopped, the last logged losses,
    the images (ImageLogger writes them) and how to resume. A run that completes removes partial/.
    """

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)
        self.requested: int | None = None
        self.raised: BaseException | None = None
        self.previous: dict[int, Any] = {}

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.requested = self.raised = None
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            self.previous = {sig: signal.signal(sig, self.request) for sig in (signal.SIGINT, signal.SIGTERM)}

    def request(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember the request; a second Ctrl-C interrupts at once."""
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        log.warning("%s: stopping after this step (Ctrl-C again to stop at once)", signal.Signals(signum).name)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *_: object) -> None:
        if self.requested is None:
            return
        self.raised = KeyboardInterrupt() if self.requested == signal.SIGINT else SIGTERMException(128 + self.requested)
        raise self.raised

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        self.restore()
        if exception is self.raised:
            trainer.save_checkpoint(self.output_dir / CHECKPOINTS / LAST)
            self.write_partial(trainer, {"stopped_by": signal.Signals(self.requested).name}, resumable=True)
        elif isinstance(exception, NonFiniteLoss):
            reason = {"stopped_by": "non-finite loss", "term": exception.term, "non_finite_at_step": exception.step}
            self.write_partial(trainer, reason, resumable=False)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.restore()
        shutil.rmtree(self.output_dir / PARTIAL, ignore_errors=True)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def write_partial(self, trainer: L.Trainer, reason: dict[str, Any], resumable: bool) -> None:
        folder = self.output_dir / PARTIAL
        losses = {name: float(value) for name, value in trainer.callback_metrics.items() if value.numel() == 1}
        resume = f"python run.py resume={self.output_dir}" if resumable else None
        record = {
            **reason,
            "stopped_at_step": trainer.global_step,
            "losses": losses,
            "images": sorted(str(p.relative_to(self.output_dir)) for p in (folder / "images").glob("*.png")),
            "checkpoint": f"{CHECKPOINTS}/{LAST}" if resumable else None,
            "resume": resume,
        }
        write_json(record, folder / "metrics.json")
        log.warning(
            "stopped at step %d: images and losses so far in %s%s",
            trainer.global_step,
            folder,
            f"; continue with: {resume}" if resume else "",
        )


class PeriodicCheckpoint(ModelCheckpoint):
    """Lightning's checkpoints every N steps, but none at the last step: `save_final` writes that one after
    the results, so that a full disk costs the checkpoint rather than the images and metrics."""

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step < trainer.max_steps:
            super().on_train_batch_end(trainer, *args)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.global_step < trainer.max_steps:
            super().on_train_epoch_end(trainer, module)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """Nothing: Lightning's would save the last step's checkpoint here."""


def save_final(trainer: L.Trainer) -> None:
    """The finished run's checkpoint, where it saves checkpoints: call it once its results are written."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, PeriodicCheckpoint):
            trainer.save_checkpoint(Path(callback.dirpath) / LAST, weights_only=False)


def checkpointing(output_dir: str | Path, every: int, fingerprint: dict[str, Any]) -> list[L.Callback]:
    """Save `checkpoints/last.ckpt` every `every` steps (0: only on a stop) for a resume, and stop cleanly.

    Each checkpoint holds the run's `fingerprint`, which a resume checks against its config.
    """
    # the state after each step is what a resume needs; the step batches carry no data to resume
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended")
    periodic = [
        PeriodicCheckpoint(
            dirpath=Path(output_dir) / CHECKPOINTS,
            every_n_train_steps=every,
            save_top_k=0,
            save_last=True,
            enable_version_counter=False,
        )
    ]
    return [*(periodic if every > 0 else []), RandomState(), Fingerprint(fingerprint), StopSaver(output_dir)]


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
