"""Every experiment that optimises an image goes through the one writer: an image that goes NaN is one line of
error and no result, whether the losses show it (NonFiniteLoss) or only the final image does."""

import numpy as np
import pytest
import torch

from convis import experiments
from convis.modules.visualisation import VisualisationModule
from convis.runtime.errors import ConvisError, NonFiniteLoss

RUNS = {
    "inversion": ["layer=block1_conv1"],
    "class_score": ["objective=class_score", "target=1"],
    "activation": ["objective=activation", "layer=block1_conv1", "objective.channel=0"],
    "direction": ["objective=direction", "layer=block1_conv1"],
    "nmf": ["objective=nmf", "layer=block1_conv1", "objective.factors=2", "objective.max_iter=20"],
    "accentuation": ["objective=accentuation", "target=1"],
}


def poison_after(index: int):
    """A training step that, after step `index`, sets every parameter of the image to NaN."""
    step = VisualisationModule.training_step

    def poisoned(self, at):
        step(self, at)
        if at == index:
            with torch.no_grad():
                for parameter in self.param.parameters():
                    parameter.fill_(float("nan"))

    return poisoned


@pytest.fixture
def direction_file(tmp_path):
    path = tmp_path / "direction.npy"
    np.save(path, np.ones(64, dtype=np.float32))  # block1_conv1's 64 channels
    return path


@pytest.mark.parametrize("name", list(RUNS))
@pytest.mark.parametrize(
    ("index", "error", "message"),
    [
        (0, NonFiniteLoss, r"^loss term .* became NaN at step 2; the last finite image is in partial/"),
        (2, ConvisError, r"^non-finite final image of .*: NaN .*; the optimisation diverged"),
    ],
)
def test_an_image_gone_nan_is_one_line_and_writes_no_result(
    name, index, error, message, cfg_factory, tmp_path, monkeypatch, direction_file
):
    extra = [f"objective.direction={direction_file}"] if name == "direction" else []
    monkeypatch.setattr(VisualisationModule, "training_step", poison_after(index))
    with pytest.raises(error, match=message) as info:
        experiments.run(cfg_factory(*RUNS[name], *extra, "steps=3", "trainer.log_every_n_steps=3"))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "images").exists()
