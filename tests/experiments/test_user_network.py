"""A network fine-tuned with a plain PyTorch loop (not convis), saved the usual way, through the CLI and the API."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch.utils.data import DataLoader

import convis
from convis.data.shapes import CLASSES, shapes

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32
QUIET = ["logger=none", "print_config=false", "trainer.enable_progress_bar=false"]


def cli(*args: str) -> subprocess.CompletedProcess:
    # a proxy on a closed loopback port: any download attempt fails at once, nothing leaves the machine
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    env.setdefault("WANDB_MODE", "disabled")
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> dict[str, Path]:
    """A torchvision MobileNetV2 with a 3-way head, a few SGD steps on generated shapes, saved as a user would."""
    folder = tmp_path_factory.mktemp("user")
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(num_classes=len(CLASSES))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader(shapes(size=24, image_size=SIZE, split="all"), batch_size=8, shuffle=True)
    model.train()
    for batch in loader:
        loss = torch.nn.functional.cross_entropy(model(batch["image"]), batch["label"])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    files = {"net": folder / "net.pth", "ddp": folder / "ddp.pth", "names": folder / "names.txt"}
    torch.save(model.state_dict(), files["net"])
    torch.save(torch.nn.DataParallel(model).state_dict(), files["ddp"])  # keys start with module.
    files["names"].write_text("\n".join(CLASSES) + "\n")
    return files


def run_cli(folder: Path, weights: Path, *overrides: str) -> dict:
    base = ["backbone=mobilenet_v2", f"backbone.weights={weights}", f"image_size={SIZE}"]
    steps = [] if "objective=saliency" in overrides else ["steps=2"]  # saliency optimises nothing: no steps
    done = cli(*base, *steps, *overrides, *QUIET, f"hydra.run.dir={folder}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"classifier.1 resized to 3 classes from {weights}" in done.stdout + done.stderr
    return json.loads((folder / "metrics.json").read_text())


@pytest.mark.slow
def test_every_objective_runs_on_the_file_from_the_command_line(user_files, tmp_path):
    names = f"backbone.classes={user_files['names']}"
    inverted = run_cli(tmp_path / "inversion", user_files["net"], "objective=inversion", "layer=block_6_expand_relu")
    assert np.isfinite(inverted["results"][0]["normalized_error"])
    scored = run_cli(tmp_path / "class", user_files["net"], "objective=class_score", "target=square", names)
    assert [(r["target"], r["target_index"]) for r in scored["results"]] == [("square", 1)]
    activated = run_cli(
        tmp_path / "act", user_files["ddp"], "objective=activation", "layer=features.3", "objective.channel=1"
    )
    assert np.isfinite(activated["results"][0]["activation"])
    salient = run_cli(tmp_path / "sal", user_files["ddp"], "objective=saliency", "target=triangle", names)
    assert {r["target"] for r in salient["results"]} == {"triangle"}
    assert np.load(tmp_path / "sal" / salient["results"][0]["map"]).shape == (SIZE, SIZE)


@pytest.mark.slow
def test_every_objective_runs_on_the_file_from_the_api(user_files):
    weights, names = str(user_files["net"]), str(user_files["names"])
    small = {"image_size": SIZE, "steps": 2}
    inverted = convis.invert("mobilenet_v2", layer="block_6_expand_relu", weights=weights, **small)
    assert np.isfinite(inverted.metrics["results"][0]["normalized_error"])
    scored = convis.class_model("mobilenet_v2", "square", weights=weights, classes=names, **small)
    assert scored.metrics["results"][0]["target_index"] == 1
    dotted = convis.class_model("mobilenet_v2", "triangle", weights=weights, **{"backbone.classes": names}, **small)
    assert dotted.metrics["results"][0]["target_index"] == 2
    activated = convis.activation("mobilenet_v2", "features.3", channel=1, weights=str(user_files["ddp"]), **small)
    assert np.isfinite(activated.metrics["results"][0]["activation"])
    salient = convis.saliency("mobilenet_v2", weights=weights, classes=list(CLASSES), target="disc", image_size=SIZE)
    assert {r["target"] for r in salient.metrics["results"]} == {"disc"}
    numbered = convis.class_model("mobilenet_v2", "2", weights=weights, **small)  # unnamed: "0", "1", "2"
    assert numbered.metrics["results"][0]["target"] == "2"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """Files that do not fit: another width of MobileNetV2, a whole pickled model."""
    folder = tmp_path_factory.mktemp("bad")
    torch.save(torchvision.models.mobilenet_v2(num_classes=3, width_mult=0.5).state_dict(), folder / "half.pth")
    torch.save(torchvision.models.mobilenet_v2(num_classes=3), folder / "whole.pth")
    return {"half": folder / "half.pth", "whole": folder / "whole.pth"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("weights", "extra", "message"),
    [
        ("half", [], "first: features.0.0.weight is [16, 3, 3, 3] in {path} but [32, 3, 3, 3] in mobilenet_v2"),
        ("net", ["backbone.classes=[a,b]"], "backbone.classes has 2 names but {path}'s head has 3 outputs"),
        ("whole", [], "is a whole pickled model (torchvision.models.mobilenetv2.MobileNetV2), which convis never"),
    ],
    ids=["body", "class-count", "whole-model"],
)
def test_a_file_that_does_not_fit_is_one_line_from_the_command_line(
    user_files, bad_files, tmp_path, weights, extra, message
):
    path = {**user_files, **bad_files}[weights]
    done = cli(
        "backbone=mobilenet_v2",
        f"backbone.weights={path}",
        *extra,
        "objective=class_score",
        f"image_size={SIZE}",
        *QUIET,
        f"hydra.run.dir={tmp_path}",
    )
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convis: error: "), done.stderr[-3000:]
    assert message.format(path=path) in lines[0]
    if weights == "whole":
        assert "torch.save(model.state_dict(), 'whole.pth')" in lines[0]
