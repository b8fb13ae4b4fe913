"""The Python API: a module and images held in memory, the CLI's numbers, no files unless asked, clear errors,
the defaults a caller's own module runs at named, and what an interrupted call keeps."""

import json
import logging
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import convis
from convis.runtime.errors import ConvisError

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"trainer": {"enable_progress_bar": False}}
NOTICE = (
    "convis: image_size=224 (ImageNet's; your module does not say its input size) and steps=350: "
    "give image_size= and steps= to change them"
)


class Net(nn.Module):
    """A user's own small classifier, defined in the notebook as it were."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


@pytest.fixture
def net() -> Net:
    torch.manual_seed(0)
    return Net()


@pytest.fixture
def picture() -> np.ndarray:
    return (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """Each test runs in an empty folder, so that a file written without output_dir would show."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_a_users_module_and_array_images_in_memory(net, picture, elsewhere):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    inverted = convis.invert(
        net, [picture, picture[:, ::-1].copy()], layer=["features.1", "features.3"], steps=3, image_size=32, **QUIET
    )
    assert [(r["layer"], r["image"]) for r in inverted.metrics["results"]] == [
        ("features.1", "image0"),
        ("features.1", "image1"),
        ("features.3", "image0"),
        ("features.3", "image1"),
    ]
    assert [image.size for image in inverted.images] == [(32, 32)] * 4 and inverted.output_dir is None
    assert inverted.tensors["images"].shape == (4, 3, 32, 32)
    classes = convis.class_model(net, ["b", 0], classes=["a", "b", "c"], steps=3, image_size=32, **QUIET)
    assert [(r["target"], r["target_index"]) for r in classes.metrics["results"]] == [("b", 1), ("a", 0)]
    maps = convis.saliency(net, torch.rand(3, 36, 36), image_size=32, **QUIET)
    (result,) = maps.metrics["results"]
    assert maps.tensors["maps"].shape == (1, 32, 32) and len(result["box"]) == 4 and len(maps.images) == 1
    channel = convis.activation(net, "features.1", channel=2, steps=3, image_size=32, **QUIET)
    assert channel.metrics["results"][0]["channel"] == 2
    assert net.training and all(p.requires_grad for p in net.parameters())  # the caller's module as it was
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not any(elsewhere.iterdir())  # nothing written without output_dir


def test_output_dir_keeps_the_run_and_its_provenance(net, picture, tmp_path):
    out = tmp_path / "run"
    result = convis.invert(net, picture, layer="features.3", steps=2, image_size=32, output_dir=out, **QUIET)
    assert result.output_dir == out and json.loads((out / "metrics.json").read_text()) == result.metrics
    record = json.loads((out / "provenance.json").read_text())
    assert record["status"] == "completed" and "layer=features.3" in record["overrides"]
    assert f"backbone.model._target_={__name__}.Net" in record["overrides"]  # what ran: the caller's class
    png = out / result.metrics["results"][0]["png"]
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), np.asarray(result.images[0]))
    assert not (out / "wandb").exists()  # W&B only when asked


def test_a_fine_tune_into_a_relative_output_dir_records_its_checkpoint(net, elsewhere):
    tiny = {"dataset.size": 24, "image_size": 32, "objective": {"epochs": 1, "batch_size": 8}}
    result = convis.finetune(net, "shapes", output_dir="net", **tiny, **QUIET)
    (record,) = result.metrics["results"]
    assert record["checkpoint"] == "checkpoints/best.ckpt" and (elsewhere / "net" / record["checkpoint"]).is_file()


def cli_metrics(folder: Path, *overrides: str) -> dict:
    command = [
        sys.executable,
        "run.py",
        *overrides,
        "logger=none",
        "print_config=false",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={folder}",
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env={**os.environ, "WANDB_MODE": "disabled"})
    return json.loads((folder / "metrics.json").read_text())


def test_the_same_numbers_as_the_command_line(tmp_path):
    overrides = ["objective=inversion", "layer=block1_conv2", "backbone.weights=null", "image_size=32", "steps=4"]
    expected = cli_metrics(tmp_path / "cli", *overrides)["results"]
    api = convis.invert("vgg16", weights=None, layer="block1_conv2", image_size=32, steps=4, **QUIET)
    runs = convis.run([*overrides, "trainer.enable_progress_bar=false"])
    for got in (api.metrics["results"], runs.metrics["results"]):
        assert [r["normalized_error"] for r in got] == [r["normalized_error"] for r in expected]
    cli_png = np.asarray(Image.open(tmp_path / "cli" / expected[0]["png"]).convert("RGB"))
    assert np.array_equal(np.asarray(api.images[0]), cli_png)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda net: convis.invert(net, "missing.jpg", layer="features.1"), "image file not found: missing.jpg"),
        (lambda net: convis.invert(net, [1, 2], layer="features.1"), "cannot read an image from a int: give a path"),
        (lambda net: convis.invert(net, layer="features.9"), r"unknown layer 'features.9' for Net"),
        (lambda net: convis.invert(net, layr="features.1"), r"unknown key layr \(did you mean layer\?\)"),
        (lambda net: convis.saliency(net, method="gradiant"), r"unknown method=gradiant \(did you mean gradient"),
        (lambda net: convis.class_model(net, "tabby"), r"unknown class name target='tabby'"),
        (lambda net: convis.invert(42, layer="x"), "model=int: give an nn.Module or a backbone name"),
        (lambda net: convis.invert("vgg16", mean=[0.5]), "mean=, std= and output= describe an nn.Module"),
        (lambda net: convis.class_model(net, 0, classes=["a", "b"]), r"^classes= has 2 names but Net's head has 3 out"),
        (lambda net: convis.class_model(net, 0, classes=list("abcd")), r"^classes= has 4 names but Net's head has 3"),
        (lambda net: convis.class_model(net, "a", classes=list("aba")), r"^the class names names classes 0 and 2 both"),
    ],
)
def test_bad_arguments_are_one_line_errors(net, call, message):
    with pytest.raises(ConvisError, match=message):
        call(net)


def test_objects_are_used_as_they_are_and_equal_the_options_they_mirror(net, tmp_path):
    """param=, prior= and optimizer= take the objects themselves: the same run as the YAML options they equal."""
    common = {"steps": 3, "image_size": 32, "seed": 1, **QUIET}
    named = convis.class_model(net, 1, param="fft", prior="olah", optimizer="lucid", **common)
    p = convis.priors
    olah = [p.Pad(12), p.Jitter(8), p.RandomScale(0.9, 1.1), p.RandomRotation(10), p.Jitter(4)]
    prior = p.Prior(transforms=olah)
    lucid = convis.optimisers.Optimiser(partial(torch.optim.Adam, lr=0.05), final_steps=0, final_lr_factor=1.0)
    out = tmp_path / "run"
    built = convis.class_model(
        net, 1, param=convis.params.Fourier(), prior=prior, optimizer=lucid, output_dir=out, **common
    )
    assert torch.equal(named.tensors["images"], built.tensors["images"])
    record = json.loads((out / "provenance.json").read_text())
    assert record["config"]["prior"] == {"given": repr(prior)} and "prior='<Prior object>'" in record["overrides"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda net: convis.saliency(net, torch.rand(3, 32, 32), prior=object()),
            r"^prior= was given an object and objective=saliency takes no objects: name an option of prior instead$",
        ),
        (lambda net: convis.invert(net, layer="features.1", seed=np.int8(3)), r"^seed=np.int8\(3\): give a number"),
        (lambda net: convis.invert(net, layer="features.1", prior="olha"), r"^unknown prior=olha \(did you mean"),
    ],
)
def test_keywords_that_cannot_be_used_are_one_line_errors(net, call, message):
    with pytest.raises(ConvisError, match=message):
        call(net)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda tmp: "", r'^output_dir="" names no folder: give a folder, or leave output_dir out to keep no files$'),
        (lambda tmp: tmp / "file.txt", r"^output_dir=.*file.txt cannot hold a run \(it is a file\): give a folder"),
        (lambda tmp: tmp / "file.txt" / "run", r"^output_dir=.*file.txt/run cannot hold a run \(Not a directory\)"),
    ],
)
def test_an_output_dir_that_cannot_hold_a_run_is_one_line(net, tmp_path, where, message):
    (tmp_path / "file.txt").write_text("kept")
    with pytest.raises(ConvisError, match=message):
        convis.invert(net, layer="features.1", steps=1, image_size=32, output_dir=where(tmp_path))
    assert (tmp_path / "file.txt").read_text() == "kept"


def notices(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings convis logged: what a user reads on the console."""
    return [r.getMessage() for r in caplog.records if r.name.split(".")[0] == "convis" and r.levelno == logging.WARNING]


def test_a_users_module_without_image_size_is_told_the_size_and_steps_once(net, picture, caplog):
    with pytest.raises(ConvisError, match="unknown layer 'features.9'"):  # the notice comes before any work
        convis.invert(net, picture, layer="features.9")
    assert notices(caplog) == [NOTICE]


def test_only_the_defaults_left_are_named_and_none_when_both_are_given(net, picture, caplog):
    maps = convis.saliency(net, picture, **QUIET)  # saliency takes no steps
    assert maps.tensors["maps"].shape == (1, 224, 224)
    assert notices(caplog) == [
        "convis: image_size=224 (ImageNet's; your module does not say its input size): give image_size= to change it"
    ]
    caplog.clear()
    convis.invert(net, picture, layer="features.1", image_size=32, steps=2, **QUIET)
    convis.invert("vgg16", weights=None, layer="block1_conv1", image_size=32, steps=1, **QUIET)
    assert notices(caplog) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda net, picture: convis.saliency(net, picture, steps=60, image_size=32),
        lambda net, picture: convis.run(["objective=saliency", "steps=60", "backbone.weights=null", "image_size=32"]),
    ],
)
def test_steps_for_an_objective_that_optimises_nothing_is_refused(net, picture, call):
    message = r"^steps=60 means nothing for objective=saliency, which optimises no image: leave it out$"
    with pytest.raises(ConvisError, match=message):
        call(net, picture)


class Interrupting(torch.optim.Adam):
    """Adam that presses Ctrl-C at its first step, as a user would mid-run."""

    def step(self, closure: object = None) -> object:
        signal.raise_signal(signal.SIGINT)
        return super().step(closure)


def test_an_interrupted_call_without_output_dir_says_nothing_is_kept(net, picture, caplog, elsewhere):
    pressing = convis.optimisers.Optimiser(partial(Interrupting, lr=0.05), final_steps=0, final_lr_factor=1.0)
    with pytest.raises(KeyboardInterrupt):
        convis.invert(net, picture, layer="features.1", image_size=32, steps=5, optimizer=pressing, **QUIET)
    (stopped,) = [line for line in notices(caplog) if line.startswith("stopped")]
    assert stopped == (
        "stopped at step 1: nothing of it is kept, as the call gave no output_dir=: "
        "give output_dir= to keep its images so far and a checkpoint to continue from"
    )
    assert not any(elsewhere.iterdir())


def test_concepts_of_a_users_module_in_memory(net, picture, elsewhere):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    pictures = [picture, picture[::-1].copy()]
    found = convis.concepts(
        net, pictures, layer="features.3", target=1, image_size=32, objective={"channels": 2, "k": 1}
    )
    heatmaps = [r for r in found.metrics["results"] if "image" in r]
    assert [(r["image"], r["rank"], r["target"]) for r in heatmaps] == [
        (f"image{i}", j, 1) for i in (0, 1) for j in (0, 1)
    ]
    assert found.tensors["shares"].shape == (2, 8) and len(found.images) == len(found.metrics["results"])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and not any(elsewhere.iterdir())


def test_craft_takes_the_given_pictures_as_the_class_images(net, picture, elsewhere):
    pictures = [picture, picture[::-1].copy(), picture[:, ::-1].copy()]
    spec = {"concepts": 3, "designs": 8, "maps": 1, "top": 2}
    found = convis.craft(net, pictures, layer="features.3", target=2, image_size=32, objective=spec)
    assert (found.metrics["images"], found.metrics["crops"], found.metrics["target_index"]) == (3, 3 * 16, 2)
    crops = [crop["image"] for concept in found.metrics["concepts"] for crop in concept["crops"]]
    assert len(crops) == 3 * 2 and set(crops) <= {"image0", "image1", "image2"}
    assert found.tensors["indices"].shape == (3, 3) and (found.tensors["indices"] >= 0).all()
    assert len(found.images) == len(found.metrics["results"]) == 3 + 3 and not any(elsewhere.iterdir())
