"""The loop that steps an image: Lightning Fabric holds the device, the precision, the loggers and the checkpoint
files; the loop owns its steps, and its callbacks act at them through `Fabric.call`.

Hooks, each called with the loop as first argument (a callback implements the ones it needs):

- `on_start(loop)`, `on_end(loop)`: around the steps of a run that completes;
- `on_step(loop)`: after a step that is a multiple of a callback's `every` (an attribute, steps), and after
  the last step: callbacks that act at intervals (images, checkpoints) are called only at those;
- `on_log(loop, values)`: at each logging step (every `log_every` steps and the last), the step's loss terms and
  totals by name, already sent to the loggers;
- `on_stop(loop, reason)`: a stop request (Ctrl-C, SIGTERM) or a non-finite loss ended the run early;
- `on_save(loop, state)`, `on_load(loop, state)`: what a checkpoint holds besides the image,
  the optimiser state, the step and the random state.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from lightning.fabric import Fabric
from lightning.pytorch.utilities.exceptions import SIGTERMException

from convis.modules.visualisation import VisualisationModule
from convis.runtime.errors import ConvisError, NonFiniteLoss
from convis.runtime.stops import AtomicCheckpointIO

PRECISIONS = ("32-true", "32", "64-true", "bf16-mixed", "bf16-true")  # fp16 needs loss scaling, which groups share
log = logging.getLogger(__name__)


class StopSignals:
    """Ctrl-C and SIGTERM during the steps: remember the request, so the loop stops after the current step.

    A second Ctrl-C stops at once. The previous handlers come back when the steps end.
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self.requested = None
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            self.previous = {sig: signal.signal(sig, self.request) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def request(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember the request; a second Ctrl-C interrupts at once."""
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        log.warning("%s: stopping after this step (Ctrl-C again to stop at once)", signal.Signals(signum).name)

    def stop(self) -> BaseException:
        """The exception that ends a stopped run: KeyboardInterrupt for Ctrl-C, exit status 128 + SIGTERM else."""
        return KeyboardInterrupt() if self.requested == signal.SIGINT else SIGTERMException(128 + self.requested)


def checked_precision(precision: object) -> str:
    """A precision the loop can step an image at; fp16's loss scaling would scale a shared image's gradient twice."""
    if str(precision) not in PRECISIONS:
        raise ConvisError(
            f"trainer.precision={precision} cannot optimise an image: choose one of {', '.join(PRECISIONS)}"
        )
    return str(precision)


class Loop:
    """Steps a VisualisationModule `steps` times on one device, logging every `log_every` steps.

    The loop's Fabric is built here from the device, precision and loggers given, with the loop's callbacks.
    Every logging step reads the steps' losses once (the one wait for the device) and stops the run at a NaN or
    Inf; `step` counts the optimisation steps taken, from 1, as loggers, history.csv and checkpoints see them.
    """

    def __init__(
        self,
        steps: int,
        log_every: int = 10,
        callbacks: Sequence[object] = (),
        loggers: Sequence[Any] = (),
        accelerator: str = "auto",
        devices: object = 1,
        precision: object = "32-true",
    ) -> None:
        count = len(devices) if isinstance(devices, Sequence) and not isinstance(devices, str) else devices
        if count not in (1, "1", "auto"):
            raise ConvisError(f"trainer.devices={devices}: an image is optimised on one device, e.g. trainer.devices=1")
        self.callbacks = list(callbacks)
        self.fabric = Fabric(
            accelerator=accelerator,
            devices=1 if count == "auto" else devices,
            precision=checked_precision(precision),
            loggers=list(loggers),
            callbacks=self.callbacks,
            plugins=[AtomicCheckpointIO()],
        )
        self.steps, self.log_every = int(steps), max(int(log_every), 1)
        self.step = 0
        self.module: VisualisationModule | None = None
        self.signals = StopSignals()
        self.values: dict[str, float] = {}  # the last logging step's values

    def is_logging_step(self) -> bool:
        return self.step % self.log_every == 0 or self.step >= self.steps

    def event_steps(self) -> set[int]:
        """The steps after which `on_step` is called: multiples of each callback's `every`, and the last."""
        intervals = {int(getattr(callback, "every", 0) or 0) for callback in self.callbacks}
        return {self.steps} | {s for every in intervals if every > 0 for s in range(every, self.steps + 1, every)}

    def fit(self, module: VisualisationModule, resume: str | Path | None = None) -> VisualisationModule:
        """Run the steps (from `resume`'s checkpoint, if given) and return the module, its image optimised."""
        fabric = self.fabric
        optimizer = module.configure_optimizers()
        fabric.setup(module, optimizer)  # onto the device; module.manual_backward and optimizers() go through Fabric
        self.module = module
        if resume is not None:
            self.load(resume)
        fabric.call("on_start", self)
        events = self.event_steps()
        with self.signals:
            try:
                self.run_steps(module, events)
            except (KeyboardInterrupt, SIGTERMException, NonFiniteLoss) as reason:
                fabric.call("on_stop", self, reason)
                self.finalize("failed")
                raise
            except BaseException:
                self.finalize("failed")
                raise
        self.finalize("success")
        fabric.call("on_end", self)
        return module

    def finalize(self, status: str) -> None:
        """Let the loggers write what they hold (Lightning's CSVLogger writes at intervals or here)."""
        for logger in self.fabric.loggers:
            logger.finalize(status)

    def run_steps(self, module: VisualisationModule, events: set[int]) -> None:
        fabric, first = self.fabric, self.step
        while self.step < self.steps:
            with fabric.autocast():
                module.training_step(self.step)
            self.step += 1
            if self.step in events:
                fabric.call("on_step", self)
            stopping = self.signals.requested is not None
            if self.is_logging_step() or stopping:  # a stop saves no image whose losses went non-finite
                module.watch.update(first)
                first = self.step
                module.watch.stop_if_non_finite()
            if self.is_logging_step():
                self.values = module.watch.logs()
                fabric.log_dict(self.values, step=self.step)
                fabric.call("on_log", self, self.values)
            if stopping:
                raise self.signals.stop()

    def save(self, path: str | Path) -> None:
        """A checkpoint of the run so far: the image's parameters, the optimiser, the step, the random state."""
        module = self.module
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        state: dict[str, Any] = {
            "param": module.param,
            "optimizer": module.optimizers(),
            "step": self.step,
            "rng_states": {"torch": torch.get_rng_state(), "cuda": cuda},
        }
        self.fabric.call("on_save", self, state)
        self.fabric.save(path, state)

    def load(self, path: str | Path) -> None:
        """Continue from a checkpoint `save` wrote: the image, the optimiser, the step and the random state."""
        module = self.module
        state: dict[str, Any] = {"param": module.param, "optimizer": module.optimizers(), "step": 0}
        rest = self.fabric.load(path, state, strict=False, weights_only=True)
        self.step = int(state["step"])
        rng = rest.get("rng_states") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if rng.get("cuda"):
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.fabric.call("on_load", self, rest)
