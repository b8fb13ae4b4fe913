"""Class models and activation maximisation end to end on random-init networks, offline."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convis import experiments
from convis.modules.visualisation import VisualisationModule
from convis.priors.yosinski import PeriodicBlur
from convis.runtime.errors import ConvisError

ROOT = Path(__file__).resolve().parents[2]
# pixels moved by Adam from noise: a random-init network's logits are zero at the zero image (no biases)
FROM_NOISE = ["prior=simonyan", "objective.init=noise", "objective.init_scale=1.0", "optimizer.optim.lr=0.1"]


@pytest.fixture
def spy(monkeypatch):
    """Records the module of the run and the image it started from."""
    seen = {}
    original = VisualisationModule.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.update(module=self, start=self.param().detach().clone())

    monkeypatch.setattr(VisualisationModule, "__init__", init)
    return seen


def logits_of(module: VisualisationModule, image: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module.groups[0].extractor(image)["logits"]


def test_class_score_writes_one_image_and_entry_per_target(cfg_factory, tmp_path):
    metrics = experiments.run(cfg_factory("objective=class_score", "target=[tabby,'golden retriever',1]")).metrics
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert metrics["objective"] == "class_score" and metrics["backbone"] == "vgg16"
    results = metrics["results"]
    expected = [("tabby", 281), ("golden retriever", 207), ("goldfish", 1)]
    assert [(r["target"], r["target_index"]) for r in results] == expected
    assert [r["png"] for r in results] == ["images/tabby.png", "images/golden_retriever.png", "images/goldfish.png"]
    for result in results:
        assert 0 < result["target_prob"] < 1 and isinstance(result["target_logit"], float)
        assert (tmp_path / result["png"]).stat().st_size > 100


def test_class_score_raises_the_target_logit(cfg_factory, spy):
    (result,) = experiments.run(cfg_factory("objective=class_score", "target=tabby", "steps=6", *FROM_NOISE)).metrics[
        "results"
    ]
    before = logits_of(spy["module"], spy["start"])[0, 281]
    assert result["target_logit"] > before + 0.01


@pytest.mark.slow
def test_class_score_puts_every_target_first(cfg_factory, spy):
    """Random-init VGG16 at 64 px: 25 Adam steps make each image's own class the top one."""
    targets = "target=[tabby,goldfish,'golden retriever']"
    cfg = cfg_factory("objective=class_score", targets, "image_size=64", "steps=25", *FROM_NOISE)
    results = experiments.run(cfg).metrics["results"]
    before = logits_of(spy["module"], spy["start"])
    for row, result in enumerate(results):
        assert result["top_class"] == result["target"]
        assert result["reached"] is True and result["target_rank"] == 1
        assert result["target_logit"] > before[row, result["target_index"]]


def test_a_target_another_class_beats_is_marked_not_reached_and_warned_once(cfg_factory, caplog):
    """Random VGG16, 3 steps: the target is not the top class, and the run says so in one line."""
    with caplog.at_level(logging.WARNING, logger="convis"):
        metrics = experiments.run(cfg_factory("objective=class_score", "target=[tabby,goldfish]")).metrics
    assert metrics["image_size"] == 32 and metrics["steps"] == 3
    for result in metrics["results"]:
        assert result["reached"] is (result["top_class"] == result["target"])
        assert result["target_rank"] >= 1 and (result["target_rank"] == 1) is result["reached"]
    missed = [r for r in metrics["results"] if not r["reached"]]
    assert missed, "3 steps on random weights should leave a target behind"
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(f"{r['target']} (rank {r['target_rank']} of 1000" in line for r in missed)
    assert "random weights (backbone.weights=null)" in line and "steps=3" in line and "\n" not in line


def test_softmax_score_optimises_the_log_probability_on_mobilenet_v2(cfg_factory, spy):
    cfg = cfg_factory("objective=class_score", "target=tabby", "backbone=mobilenet_v2", "objective.score=softmax")
    (result,) = experiments.run(cfg).metrics["results"]
    assert spy["module"].groups[0].objective.terms[0][1].name == "class_softmax"
    assert result["target"] == "tabby" and 0 < result["target_prob"] < 1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("null", r"needs a class: target=tabby"),
        ("tabbby", r"unknown class name target='tabbby'; closest: tabby"),
        ("1000", r"target=1000 is out of range: this model has classes 0 to 999"),
        ("[tabby,281]", r"target lists a class twice \(tabby, tabby\)"),
    ],
)
def test_bad_targets_fail_before_optimising(cfg_factory, tmp_path, target, message):
    with pytest.raises(ConvisError, match=message):
        experiments.run(cfg_factory("objective=class_score", f"target={target}", "backbone=mobilenet_v2"))
    assert not (tmp_path / "metrics.json").exists()


def test_activation_of_a_channel_and_a_centre_neuron(cfg_factory, tmp_path):
    layers = "layer=[block4_conv1,block3_conv1]"  # 4x4 and 8x8 positions at 32 px
    cfg = cfg_factory("objective=activation", layers, "objective.channel=7", "objective.neuron=center")
    results = experiments.run(cfg).metrics["results"]
    expected = [("block4_conv1", 7, [2, 2]), ("block3_conv1", 7, [4, 4])]
    assert [(r["layer"], r["channel"], r["neuron"]) for r in results] == expected
    assert [r["png"] for r in results] == ["images/block4_conv1_7_2_2.png", "images/block3_conv1_7_4_4.png"]
    assert all(isinstance(r["activation"], float) and (tmp_path / r["png"]).exists() for r in results)


def test_composed_terms_report_the_weighted_sum_of_their_activations(cfg_factory, spy):
    terms = "[{layer:block3_conv1,channel:7,weight:1},{layer:block3_conv1,channel:3,weight:-0.5},{layer:block2_conv1}]"
    cfg = cfg_factory("objective=activation", f"objective.terms={terms}", "objective.batch=2", "objective.diversity=1")
    results = experiments.run(cfg).metrics["results"]
    image, _ = spy["module"].evaluate()
    acts = spy["module"].groups[0].extractor(image)
    block3, block2 = acts["block3_conv1"], acts["block2_conv1"]
    expected = block3[:, 7].mean((1, 2)) - 0.5 * block3[:, 3].mean((1, 2)) + block2.square().mean((1, 2, 3))
    assert [r["activation"] for r in results] == pytest.approx(expected.tolist(), rel=1e-5)
    assert results[0]["objective"] == "1*block3_conv1:7 + -0.5*block3_conv1:3 + 1*block2_conv1"
    assert results[0]["layer"] == "block3_conv1+block2_conv1" and results[0]["channel"] is None
    assert "diversity" in spy["module"].groups[0].objective.breakdown(acts)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["objective.channel=192"], r"channel 192 is out of range for block_6_expand_relu: it has 192 channels"),
        (["objective.diversity=1.0"], r"objective.diversity compares the images of a batch: set objective.batch=2"),
        (["objective.batch=0"], r"objective.batch=0 must be a positive whole number"),
        (["objective.terms=[{layer:block_2_add,chanel:3}]"], r"entry .* use the keys layer, channel, neuron, weight"),
        (["prior=yosinski", "param=fft"], r"param=fft cannot apply the prior's pixel constraints \(Decay, Periodic"),
    ],
)
def test_bad_activation_settings_fail_clearly(cfg_factory, overrides, message):
    with pytest.raises(ConvisError, match=message):
        cfg = cfg_factory("objective=activation", "backbone=mobilenet_v2", "layer=block_6_expand_relu", *overrides)
        experiments.run(cfg)


def test_constraints_get_the_index_of_each_step(cfg_factory, monkeypatch):
    steps = []
    monkeypatch.setattr(PeriodicBlur, "__call__", lambda self, image, step: steps.append(step))
    cfg = cfg_factory("objective=activation", "backbone=mobilenet_v2", "layer=block_2_add", "prior=yosinski", "steps=5")
    experiments.run(cfg)
    assert steps == [0, 1, 2, 3, 4]


def test_cli_class_score_runs_offline(tmp_path):
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    done = subprocess.run(
        [
            sys.executable,
            "run.py",
            "objective=class_score",
            "target=tabby",
            "backbone.weights=null",
            "image_size=32",
            "steps=2",
            "logger=none",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads((tmp_path / "metrics.json").read_text())["results"]
    assert result["target"] == "tabby" and isinstance(result["reached"], bool)
    if not result["reached"]:
        (line,) = [line for line in done.stdout.splitlines() if "[WARNING]" in line and "not reached" in line]
        assert "tabby (rank" in line and "done: 1 result(s), 1 not reached in" in done.stdout
    assert (tmp_path / "images" / "tabby.png").exists()
