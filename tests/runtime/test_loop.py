"""The loop that steps an image: when its callbacks and loggers act, the same image whatever they are, a NaN and a
SIGTERM between logging steps, and a resume that ends exactly as the uninterrupted run."""

import csv
import os
import signal
from functools import partial

import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import nn

from convis.modules.visualisation import Group, VisualisationModule
from convis.objectives import INPUT
from convis.objectives.base import term
from convis.params.pixel import PixelImage
from convis.runtime.errors import NonFiniteLoss
from convis.runtime.history import read_history
from convis.runtime.logs import LossHistory
from convis.runtime.loop import Loop
from convis.runtime.stops import PeriodicCheckpoint, StopSaver


class NoNetwork(nn.Module):
    def forward(self, x: torch.Tensor) -> dict:
        return {}


# SGD at lr 0.3 on `climb` raises every pixel by 0.3 a step (0, 0.3, 0.6, ...: step 5 sees 1.2);
# `cliff` is log(1 - pixel): NaN from step 5 on, without a gradient
climb = term("climb", lambda acts: -acts[INPUT].flatten(1).sum(1))
cliff = term("cliff", lambda acts: torch.log(1 - acts[INPUT].detach().flatten(1).mean(1)))


def module(steps: int, objective=climb) -> VisualisationModule:
    group = Group("g", slice(0, 1), NoNetwork(), objective)
    return VisualisationModule(PixelImage(torch.zeros(1, 3, 4, 4)), [group], partial(torch.optim.SGD, lr=0.3), steps)


class Events:
    """The steps at which the loop called each hook (`every`: the interval it asks on_step for)."""

    def __init__(self, every: int = 0) -> None:
        self.every, self.steps, self.logged, self.stopped = every, [], [], []

    def on_step(self, loop):
        self.steps.append(loop.step)

    def on_log(self, loop, values):
        self.logged.append(loop.step)

    def on_stop(self, loop, reason):
        self.stopped.append((loop.step, reason))


def test_on_step_comes_at_multiples_of_the_callbacks_every_and_the_last_step_on_log_at_logging_steps():
    threes, fives, plain = Events(3), Events(5), Events()
    loop = Loop(11, 4, [threes, fives, plain], accelerator="cpu")
    loop.fit(module(11))
    assert threes.steps == fives.steps == plain.steps == [3, 5, 6, 9, 10, 11]
    assert threes.logged == plain.logged == [4, 8, 11] and plain.stopped == []
    assert loop.step == 11 and set(loop.values) == {"g/climb", "g/loss", "loss"}


def test_the_logging_steps_reach_history_and_the_loggers_and_the_image_is_the_same_whatever_the_intervals(tmp_path):
    one = module(11)
    Loop(11, 1, [LossHistory(tmp_path / "one.csv")], accelerator="cpu").fit(one)
    many, logger = module(11), CSVLogger(tmp_path, name="csv")
    callbacks = [Events(3), LossHistory(tmp_path / "many.csv")]
    Loop(11, 4, callbacks, loggers=[logger], accelerator="cpu").fit(many)
    assert torch.equal(many.param(), one.param()) and torch.allclose(many.param(), torch.full((1, 3, 4, 4), 3.3))
    every = read_history(tmp_path / "one.csv")
    assert [row["step"] for row in every] == [str(step) for step in range(1, 12)]
    assert read_history(tmp_path / "many.csv") == [every[3], every[7], every[10]]  # steps 4, 8, 11
    with open(logger.log_dir + "/metrics.csv", newline="") as file:  # written at the end
        logged = [row for row in csv.DictReader(file) if row.get("loss")]
    assert [int(row["step"]) for row in logged] == [4, 8, 11]  # the loggers' step: history.csv's
    assert float(logged[1]["g/climb"]) == pytest.approx(-48 * 2.1)  # what step 8 saw


def test_a_nan_between_logging_steps_names_its_step_and_keeps_the_image_before_it():
    fitted, events = module(9, climb + cliff), Events(4)
    loop = Loop(9, 6, [events], accelerator="cpu")
    with pytest.raises(NonFiniteLoss) as info:
        loop.fit(fitted)
    assert (info.value.term, info.value.step) == ("g/cliff", 5)
    assert loop.step == 6 and events.steps == [4] and events.logged == []  # found at the logging step
    assert events.stopped == [(6, info.value)] and torch.allclose(fitted.param(), torch.full((1, 3, 4, 4), 1.8))
    assert torch.allclose(fitted.last_good, torch.full((1, 3, 4, 4), 0.9))  # what step 4 saw


def test_sigterm_between_logging_steps_stops_after_that_step_with_a_checkpoint(tmp_path):
    def kill_at_4(acts):  # step 4 sees 0.9
        if abs(float(acts[INPUT].detach().mean()) - 0.9) < 1e-4:
            os.kill(os.getpid(), signal.SIGTERM)
        return acts[INPUT].sum((1, 2, 3)) * 0

    before = signal.getsignal(signal.SIGTERM)
    events = Events(3)
    loop = Loop(9, 8, [events, StopSaver(tmp_path)], accelerator="cpu")
    with pytest.raises(SIGTERMException) as info:
        loop.fit(module(9, climb + term("kill", kill_at_4)))
    assert info.value.code == 128 + signal.SIGTERM and signal.getsignal(signal.SIGTERM) is before
    assert loop.step == 4 and events.steps == [3] and events.logged == [] and events.stopped[0][0] == 4
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["step"] == 4 and torch.allclose(checkpoint["param"]["image"], torch.tensor(1.2))


# Adam on a random gradient: each step draws from torch's generator, so only the restored random state,
# optimiser state and step give the uninterrupted image
shake = term("shake", lambda acts: -(acts[INPUT] * torch.rand_like(acts[INPUT])).flatten(1).sum(1))


def shaken(steps: int) -> VisualisationModule:
    group = Group("g", slice(0, 1), NoNetwork(), shake)
    make = partial(torch.optim.Adam, lr=0.1)
    image = PixelImage(torch.zeros(1, 3, 4, 4))
    return VisualisationModule(image, [group], make, steps, final_steps=2, final_lr_factor=0.1)


class CrashAt:
    """Fails the run after a given step, as a crash would."""

    def __init__(self, step: int) -> None:
        self.every = step

    def on_step(self, loop):
        if loop.step == self.every:
            raise RuntimeError("crash")


def test_a_resumed_run_restores_the_random_state_and_ends_as_the_uninterrupted_one(tmp_path):
    torch.manual_seed(0)
    whole = shaken(8)
    Loop(8, 2, [LossHistory(tmp_path / "whole.csv")], accelerator="cpu").fit(whole)
    assert whole.param().unique().numel() > 40  # every pixel its own random path

    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="crash"):
        callbacks = [PeriodicCheckpoint(tmp_path, 3), LossHistory(tmp_path / "run.csv"), CrashAt(5)]
        Loop(8, 2, callbacks, accelerator="cpu").fit(shaken(8))
    path = tmp_path / "checkpoints" / "last.ckpt"
    state = torch.load(path, weights_only=True)
    assert state["step"] == 3 and set(state) == {"param", "optimizer", "step", "rng_states"}

    resumed = shaken(8)
    loop = Loop(8, 2, [PeriodicCheckpoint(tmp_path, 3), LossHistory(tmp_path / "run.csv")], accelerator="cpu")
    loop.fit(resumed, resume=path)
    assert loop.step == 8 and torch.equal(resumed.param(), whole.param())
    assert read_history(tmp_path / "run.csv") == read_history(tmp_path / "whole.csv")  # steps 2, 4, 6, 8
