"""Several optimisation steps per Lightning step: the same image, logged steps, checkpoints, NaN stop and
signal stop as one step at a time."""

import csv
import os
import signal
from functools import partial

import lightning as L
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
from convis.runtime.stops import StopSaver


class NoNetwork(nn.Module):
    def forward(self, x: torch.Tensor) -> dict:
        return {}


# SGD at lr 0.3 on `climb` raises every pixel by 0.3 a step (0, 0.3, 0.6, ...: step 5 sees 1.2);
# `cliff` is log(1 - pixel): NaN from step 5 on, without a gradient
climb = term("climb", lambda acts: -acts[INPUT].flatten(1).sum(1))
cliff = term("cliff", lambda acts: torch.log(1 - acts[INPUT].detach().flatten(1).mean(1)))


def module(steps: int, seconds: float, objective=climb, every=()) -> VisualisationModule:
    group = Group("g", slice(0, 1), NoNetwork(), objective)
    make = partial(torch.optim.SGD, lr=0.3)
    image = PixelImage(torch.zeros(1, 3, 4, 4))
    return VisualisationModule(image, [group], make, steps, seconds_per_batch=seconds, every=every)


class Batches(L.Callback):
    """The global step at the end of each Lightning step."""

    def __init__(self) -> None:
        self.ends: list[int] = []

    def on_train_batch_end(self, trainer, *_):
        self.ends.append(trainer.global_step)


def fit(fitted, folder, steps, log_every, *callbacks, logger=False):
    trainer = L.Trainer(
        max_steps=steps,
        log_every_n_steps=log_every,
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
        callbacks=list(callbacks),
    )
    trainer.fit(fitted)
    return trainer


def test_a_lightning_step_runs_steps_up_to_the_next_logging_or_callback_step(tmp_path):
    batches, one = Batches(), module(11, 0.0)
    fit(one, tmp_path / "one", 11, 4, LossHistory(tmp_path / "one.csv"))
    many = module(11, 60.0, every=(3,))
    logger = CSVLogger(tmp_path, name="csv")
    fit(many, tmp_path / "many", 11, 4, batches, LossHistory(tmp_path / "many.csv"), logger=logger)
    assert batches.ends == [3, 4, 6, 8, 9, 11]  # multiples of 3 (every) and 4 (logging), and the last step
    assert torch.equal(many.param(), one.param()) and torch.allclose(many.param(), torch.full((1, 3, 4, 4), 3.3))
    assert read_history(tmp_path / "many.csv") == read_history(tmp_path / "one.csv")
    assert [row["step"] for row in read_history(tmp_path / "many.csv")] == ["4", "8", "11"]
    with open(logger.log_dir + "/metrics.csv", newline="") as file:
        logged = [row for row in csv.DictReader(file) if row.get("loss")]
    assert [int(row["step"]) for row in logged] == [3, 7]  # the loggers' step: as one step a Lightning step
    assert float(logged[1]["g/climb"]) == pytest.approx(-48 * 2.1)  # what step 8 saw


def test_a_nan_inside_a_lightning_step_names_its_step_and_keeps_the_image_before_it(tmp_path):
    fitted, batches = module(9, 60.0, climb + cliff), Batches()
    with pytest.raises(NonFiniteLoss) as info:
        fit(fitted, tmp_path, 9, 6, batches)
    assert (info.value.term, info.value.step) == ("g/cliff", 5) and batches.ends == []
    assert fitted.global_step == 6  # found at the logging step, with no wait for the device before
    assert torch.allclose(fitted.last_good, torch.full((1, 3, 4, 4), 0.9))  # what step 4 saw


def test_sigterm_inside_a_lightning_step_stops_after_that_step_with_a_checkpoint(tmp_path):
    def kill_at_4(acts):  # step 4 sees 0.9
        if abs(float(acts[INPUT].mean()) - 0.9) < 1e-4:
            os.kill(os.getpid(), signal.SIGTERM)
        return acts[INPUT].sum((1, 2, 3)) * 0

    fitted, batches = module(9, 60.0, climb + term("kill", kill_at_4)), Batches()
    with pytest.raises(SIGTERMException):
        fit(fitted, tmp_path, 9, 8, batches, StopSaver(tmp_path))
    assert batches.ends == [4]
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 4 and torch.allclose(checkpoint["state_dict"]["param.image"], torch.tensor(1.2))
