"""Lightning callbacks of the visualisation runs: image logging, loss history, checkpoints to resume from."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from src.errors import ConvisError
from src.modules.visualisation import is_logging_step

HISTORY = "history.csv"
CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"


class ImageLogger(L.Callback):
    """Log the current images to loggers that take images (W&B) every `every` steps."""

    def __init__(self, every: int, captions: list[str], render: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.every, self.captions, self.render = every, captions, render

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *_: object) -> None:
        step = trainer.global_step
        if self.every <= 0 or step % self.every and step != trainer.max_steps:
            return
        images = self.render(module.param().detach())
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image("images", list(images.cpu()), step=step, caption=self.captions)


class LossHistory(L.Callback):
    """Append the step and every logged value to a CSV after each step, whatever the logger.

    The report draws its loss curves from this file. A resumed run keeps the rows up to its
    checkpoint's step, so the file ends as an uninterrupted run's would.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.columns: list[str] | None = None

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        rows = read_history(self.path) if trainer.global_step and self.path.is_file() else []
        kept = [row for row in rows if int(row["step"]) <= trainer.global_step]
        self.columns = list(kept[0]) if kept else None
        self.path.unlink(missing_ok=True)
        if kept:
            self._write(kept)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *_: object) -> None:
        if not is_logging_step(trainer):
            return
        values = {name: float(value) for name, value in trainer.callback_metrics.items() if value.numel() == 1}
        if self.columns is None:
            self.columns = ["step", *values]
        self._write([{"step": trainer.global_step, **values}])

    def _write(self, rows: list[dict[str, Any]]) -> None:
        header = not self.path.exists()
        with self.path.open("a", newline="") as file:
            writer = csv.DictWriter(file, self.columns, restval="", extrasaction="ignore")
            if header:
                writer.writeheader()
            writer.writerows(rows)


def read_history(path: str | Path) -> list[dict[str, str]]:
    """The rows of a history.csv, as written."""
    with Path(path).open(newline="") as file:
        return list(csv.DictReader(file))


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


def checkpointing(output_dir: str | Path, every: int) -> list[L.Callback]:
    """Save `checkpoints/last.ckpt` every `every` steps (and at the end) with what a resume needs; [] for 0."""
    if every <= 0:
        return []
    # the state after each step is what a resume needs; the step batches carry no data to resume
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended")
    last = ModelCheckpoint(
        dirpath=Path(output_dir) / CHECKPOINTS,
        every_n_train_steps=every,
        save_top_k=0,
        save_last=True,
        enable_version_counter=False,
    )
    return [last, RandomState()]


def last_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a run directory resumes from, or a ConvisError saying why there is none."""
    path = Path(run_dir) / CHECKPOINTS / LAST
    if not path.is_file():
        raise ConvisError(
            f"resume={run_dir}: no checkpoint at {path}; resume takes a run directory that saved "
            "checkpoints (checkpoint_every > 0), or drop resume= to start afresh"
        )
    return path
