"""What a visualisation run shows while it runs: images to the loggers, history.csv, loss terms in a progress bar.

Each is a callback of convis.runtime.loop.Loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from convis.runtime.errors import NonFiniteLoss
from convis.runtime.history import append_history, read_history, write_history
from convis.runtime.writers import safe_name, save_image, to_pil

PARTIAL = "partial"  # what a run that stopped early leaves: images/ and metrics.json


def log_images(loggers: Sequence[Any], key: str, images: list[torch.Tensor], **options: Any) -> None:
    """[0, 1] images to the loggers that take images (W&B), as 8-bit pictures: W&B reads a tensor as 0-255."""
    for logger in loggers:
        if hasattr(logger, "log_image"):
            logger.log_image(key, [to_pil(image) for image in images], **options)


class ImageLogger:
    """Log the current images to loggers that take images (W&B) every `every` steps (0: only at the end).

    When the run stops early it writes them to partial/images/ under `output_dir`: the current images after a
    Ctrl-C or SIGTERM, the last ones whose losses were finite after a NaN or Inf.
    """

    def __init__(
        self, every: int, captions: list[str], render: Callable[[torch.Tensor], torch.Tensor], output_dir: Path
    ) -> None:
        self.every, self.captions, self.render, self.output_dir = every, captions, render, Path(output_dir)

    def on_step(self, loop: Any) -> None:
        if self.every > 0 and (loop.step % self.every == 0 or loop.step == loop.steps):
            images = list(self.render(loop.module.param().detach()))
            log_images(loop.fabric.loggers, "images", images, step=loop.step, caption=self.captions)

    def on_stop(self, loop: Any, reason: BaseException) -> None:
        module = loop.module
        image = module.last_good if isinstance(reason, NonFiniteLoss) else module.param().detach()
        folder = self.output_dir / PARTIAL / "images"
        for caption, picture in zip(self.captions, self.render(image)):
            save_image(picture, folder / f"{safe_name(caption)}.png")


class LossHistory:
    """Write the step and every logged value to a CSV at each logging step, whatever the logger.

    The report draws its loss curves from this file. The first row of a run writes it whole and atomically (a
    resumed run keeps the rows up to its checkpoint's step, so the file ends as an uninterrupted run's would);
    each later row is appended in one write call, so a kill never leaves half a row, and a step costs no
    rewrite of the rows before it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.kept: list[dict[str, Any]] = []  # a resumed run's rows up to its checkpoint, rewritten with its first
        self.fields: list[str] | None = None  # the file's columns, once this run has written it

    def on_start(self, loop: Any) -> None:
        rows = read_history(self.path) if loop.step and self.path.is_file() else []
        self.kept = [row for row in rows if int(row["step"]) <= loop.step]
        self.fields = None

    def on_log(self, loop: Any, values: dict[str, float]) -> None:
        row = {"step": loop.step, **values}
        if self.fields is not None:
            append_history(row, self.fields, self.path)
            return
        rows = [*self.kept, row]
        write_history(rows, self.path)
        self.fields, self.kept = list(rows[0]), []


class LossBar:
    """A progress bar of the optimisation steps, showing beside the total `loss` each loss term summed over the
    groups; it moves at the logging steps, whose values are read anyway."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def on_start(self, loop: Any) -> None:
        self.bar = tqdm(total=loop.steps, initial=loop.step, unit="step", dynamic_ncols=True, leave=False)

    def on_log(self, loop: Any, values: dict[str, float]) -> None:
        terms: dict[str, float] = {}
        for key, value in values.items():
            group, _, term = key.rpartition("/")
            if group and term != "loss":
                terms[term] = terms.get(term, 0.0) + value
        self.bar.set_postfix({"loss": values["loss"], **terms}, refresh=False)
        self.bar.update(loop.step - self.bar.n)

    def on_end(self, loop: Any) -> None:
        self.close()

    def on_stop(self, loop: Any, reason: BaseException) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
