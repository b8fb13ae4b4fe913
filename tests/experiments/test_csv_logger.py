"""logger=csv: Lightning's CSVLogger writes the logged losses under the run directory, at history.csv's steps."""

import csv
import math

import pytest

from convis.experiments import run

TINY_NET = ["backbone=custom", "backbone.model._target_=tests.backbones.tiny_nets.TinyNet"]


def rows(path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_logger_csv_writes_the_loss_of_every_logged_step(cfg_factory, tmp_path):
    run(cfg_factory(*TINY_NET, "layer=conv2", "steps=3", "logger=csv", "trainer.log_every_n_steps=1"))
    (metrics_csv,) = tmp_path.glob("csv/version_*/metrics.csv")
    logged = [row for row in rows(metrics_csv) if row.get("loss")]
    assert len(logged) == 3 and [int(row["step"]) for row in logged] == [
        1,
        2,
        3,
    ]  # the optimisation steps, as history.csv
    losses = [float(row["loss"]) for row in logged]
    assert all(math.isfinite(loss) and loss > 0 for loss in losses)
    history = rows(tmp_path / "history.csv")  # the run's own record of the same steps
    assert losses == pytest.approx([float(row["loss"]) for row in history], rel=1e-6)


def test_logger_none_writes_no_csv(cfg_factory, tmp_path):
    run(cfg_factory(*TINY_NET, "layer=conv2", "steps=1"))
    assert not list(tmp_path.glob("csv/**/metrics.csv"))
