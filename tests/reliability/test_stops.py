"""In-process: a NaN loss stops the run at the next logging step and keeps the last finite image; a SIGTERM
finishes the step, saves a checkpoint, the image and the losses so far; a second Ctrl-C stops at once."""

import json
import os
import signal
from functools import partial

import numpy as np
import pytest
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from PIL import Image
from torch import nn

from convis.modules.visualisation import Group, VisualisationModule
from convis.objectives import INPUT
from convis.objectives.base import term
from convis.params.pixel import PixelImage
from convis.runtime.errors import NonFiniteLoss
from convis.runtime.history import read_history
from convis.runtime.logs import ImageLogger, LossHistory
from convis.runtime.loop import Loop, StopSignals
from convis.runtime.stops import StopSaver, checkpointing


class NoNetwork(nn.Module):
    """The terms below read only the image."""

    def forward(self, x: torch.Tensor) -> dict:
        return {}


# SGD at lr 0.3 on `climb` raises every pixel by exactly 0.3 a step; `cliff` (no gradient) is log(1 - pixel):
# finite while pixels are below 1, NaN from the step that sees 1.2 (the 5th: 0, 0.3, 0.6, 0.9, 1.2)
climb = term("climb", lambda acts: -acts[INPUT].flatten(1).sum(1))
cliff = term("cliff", lambda acts: torch.log(1 - acts[INPUT].detach().flatten(1).mean(1)))


def module(steps: int) -> VisualisationModule:
    group = Group("g", slice(0, 1), NoNetwork(), climb + cliff)
    return VisualisationModule(PixelImage(torch.zeros(1, 3, 4, 4)), [group], partial(torch.optim.SGD, lr=0.3), steps)


def loop(steps: int, *callbacks: object) -> Loop:
    return Loop(steps, 3, callbacks, accelerator="cpu")


def test_a_nan_loss_stops_the_run_naming_the_term_and_step_and_keeps_the_last_finite_image(tmp_path):
    fit = module(9)
    images = ImageLogger(0, ["picture"], lambda image: image, tmp_path)
    run = loop(9, images, LossHistory(tmp_path / "history.csv"), StopSaver(tmp_path))
    with pytest.raises(NonFiniteLoss) as info:
        run.fit(fit)
    assert (info.value.term, info.value.step) == ("g/cliff", 5)
    assert str(info.value).startswith("loss term g/cliff became NaN at step 5; the last finite image is in partial/")
    assert torch.allclose(fit.last_good, torch.full((1, 3, 4, 4), 0.9))  # what step 4 saw
    assert run.step == 6  # found at the first logging step after it, with no wait for the device before
    assert (np.asarray(Image.open(tmp_path / "partial" / "images" / "picture.png")) == 230).all()  # 0.9 * 255
    record = json.loads((tmp_path / "partial" / "metrics.json").read_text())
    assert record["stopped_by"] == "non-finite loss" and record["term"] == "g/cliff"
    assert record["non_finite_at_step"] == 5 and record["stopped_at_step"] == 6 and record["checkpoint"] is None
    assert record["losses"]["g/climb"] == pytest.approx(-48 * 0.6)  # logged at step 3: pixels at 0.6
    assert [row["step"] for row in read_history(tmp_path / "history.csv")] == ["3"]  # no row with the NaN


class SignalAt:
    """Sends this process a signal after a given step, as `kill` would from outside."""

    every = 1

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_step(self, loop: Loop) -> None:
        if loop.step == self.step:
            os.kill(os.getpid(), self.signum)


def test_sigterm_finishes_the_step_then_saves_a_checkpoint_the_image_and_the_losses(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    fit = module(9)
    callbacks = [
        SignalAt(4, signal.SIGTERM),
        ImageLogger(0, ["picture"], lambda image: image, tmp_path),
        *checkpointing(tmp_path, 0, {"steps": 9}),
    ]
    run = loop(9, *callbacks)
    with pytest.raises(SIGTERMException) as info:
        run.fit(fit)
    assert info.value.code == 128 + signal.SIGTERM and signal.getsignal(signal.SIGTERM) is before
    assert run.step == 4
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["step"] == 4 and torch.allclose(checkpoint["param"]["image"], torch.tensor(1.2))
    assert "rng_states" in checkpoint  # checkpoint_every=0 still stops resumably
    assert checkpoint["convis_config"] == {"steps": 9}  # what a resume checks its config against
    assert (np.asarray(Image.open(tmp_path / "partial" / "images" / "picture.png")) == 255).all()  # 1.2, clipped
    record = json.loads((tmp_path / "partial" / "metrics.json").read_text())
    assert record["stopped_by"] == "SIGTERM" and record["stopped_at_step"] == 4
    assert record["checkpoint"] == "checkpoints/last.ckpt" and record["resume"] == f"python run.py resume={tmp_path}"
    assert record["images"] == ["partial/images/picture.png"] and set(record["losses"]) >= {
        "g/climb",
        "g/cliff",
        "loss",
    }


def test_a_second_ctrl_c_stops_at_once():
    signals = StopSignals()
    signals.request(signal.SIGINT, None)
    assert signals.requested == signal.SIGINT and isinstance(signals.stop(), KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        signals.request(signal.SIGINT, None)


def test_a_completed_run_removes_what_an_earlier_stop_left(tmp_path):
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "metrics.json").write_text("{}")
    loop(2, StopSaver(tmp_path)).fit(module(2))
    assert not (tmp_path / "partial").exists()
