"""Every kind of bad input through the real command line: exit status 2, one line naming the bad value and
what to type instead, no traceback. One subprocess per case (5 s of CPU each, mostly imports): marked slow."""

import os
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from tests.reliability.conftest import SMALL, run

pytestmark = pytest.mark.slow


class RunsCode:
    """A pickled object that, unpickled without weights_only, would create the file `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def huge_png(path: Path, small: Path) -> Path:
    """A small PNG whose header claims 30000 x 30000 pixels (a decompression bomb)."""
    data = bytearray(small.read_bytes())
    data[16:24] = struct.pack(">II", 30000, 30000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The bad files and folders, by the names the cases use."""
    root = tmp_path_factory.mktemp("bad")
    good = root / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(good)
    found = {
        name: root / file
        for name, file in [
            ("empty", "empty.png"),
            ("corrupt", "corrupt.png"),
            ("truncated", "truncated.png"),
            ("svg", "drawing.svg"),
            ("empty_folder", "empty"),
            ("unreadable_folder", "unreadable"),
            ("corrupt_weights", "corrupt.pth"),
            ("not_a_state_dict", "step.pth"),
            ("mobilenet_v2", "mobilenet_v2.pth"),
            ("runs_code", "runs_code.pth"),
        ]
    }
    found["empty"].touch()
    found["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    found["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    found["svg"].write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    found["empty_folder"].mkdir()
    found["unreadable_folder"].mkdir()
    (found["unreadable_folder"] / "cat.jpg").write_text("not a picture")
    found["corrupt_weights"].write_bytes(b"\x00not a torch file" * 4)
    torch.save({"step": 1}, found["not_a_state_dict"])
    torch.save(torchvision.models.mobilenet_v2().state_dict(), found["mobilenet_v2"])
    torch.save({"x": RunsCode(root / "code_ran")}, found["runs_code"])
    return {**found, "huge": huge_png(root / "huge.png", good)}


CASES = {
    "unknown backbone": (["backbone=vgg61"], "unknown backbone=vgg61 (did you mean vgg16?)"),
    "unknown layer": (["layer=block6_conv1"], "unknown layer 'block6_conv1' for vgg16 (did you mean"),
    "unknown objective": (["objective=inversio"], "unknown objective=inversio (did you mean inversion?)"),
    "unknown method": (["objective=saliency", "method=smoothgrd"], "unknown method=smoothgrd (did you mean smoothgrad"),
    "unknown class name": (["objective=class_score", "target=tabbby"], "target='tabbby'; closest: tabby"),
    "class index out of range": (["objective=class_score", "target=1000"], "target=1000 is out of range"),
    "unknown key": (["stepz=3"], "unknown key stepz (did you mean steps?)"),
    "image_size below the layer's": (["image_size=8"], "image_size=8 is too small for block5_conv3 of vgg16"),
    "image_size not positive": (["image_size=0"], "image_size=0 must be a positive whole number"),
    "negative steps": (["steps=-5"], "steps=-5 must be a positive whole number"),
    "zero learning rate": (["optimizer.optim.lr=0"], "optimizer.optim.lr=0 must be a positive number"),
    "negative weight": (["prior.penalties.0.weight=-1"], "weight=-1 must be a positive number, e.g. weight=1.0"),
    "missing image": (["dataset.path=/no/such/cat.jpg"], "/no/such/cat.jpg"),
    "empty image": (["dataset.path={empty}"], "not a readable image: {empty}"),
    "corrupt image": (["dataset.path={corrupt}"], "not a readable image: {corrupt}"),
    "truncated image": (["dataset.path={truncated}"], "{truncated} (image file is truncated)"),
    "decompression bomb": (["dataset.path={huge}"], "refusing to load {huge}"),
    "odd format": (["dataset.path={svg}"], "not a readable image: {svg}"),
    "empty folder": (["dataset.path={empty_folder}"], "no images in folder {empty_folder}"),
    "empty image_folder": (
        ["dataset=image_folder", "dataset.root={empty_folder}"],
        "no images in folder {empty_folder}",
    ),
    "only unreadable images": (
        ["dataset=image_folder", "dataset.root={unreadable_folder}"],
        "no readable images in folder {unreadable_folder}",
    ),
    "missing weights": (["backbone.weights=/no/such/vgg16.pth"], "weights file not found: /no/such/vgg16.pth"),
    "corrupt weights": (
        ["backbone.weights={corrupt_weights}"],
        "weights file {corrupt_weights} is not a readable PyTorch file",
    ),
    "weights of another network": (["backbone.weights={mobilenet_v2}"], "do not fit backbone vgg16"),
    "weights that are not a state dict": (["backbone.weights={not_a_state_dict}"], "is not a state dict"),
}


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("convis: error: ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def results(files, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every case's run, two at a time (most of a run that fails early is importing torch)."""

    def one(case: str) -> subprocess.CompletedProcess:
        args = [arg.format(**files) for arg in CASES[case][0]]
        return run(*SMALL, *args, "print_config=false", f"hydra.run.dir={tmp_path_factory.mktemp('run')}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(one, CASES)))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_naming_it(case, files, results):
    done = results[case]
    assert done.returncode == 2, done.stderr[-3000:]
    assert CASES[case][1].format(**files) in one_error_line(done.stderr)
    assert "Traceback" not in done.stderr + done.stdout


@pytest.fixture(scope="module")
def pickle_run(files, tmp_path_factory):
    return run(
        *SMALL,
        f"backbone.weights={files['runs_code']}",
        "print_config=false",
        f"hydra.run.dir={tmp_path_factory.mktemp('pickle')}",
    )


def test_a_weights_file_that_would_run_code_is_refused_and_runs_none(pickle_run, files):
    assert pickle_run.returncode == 2 and "Traceback" not in pickle_run.stderr
    assert str(files["runs_code"]) in one_error_line(pickle_run.stderr)
    assert not (files["runs_code"].parent / "code_ran").exists()


def test_the_refusal_says_why(pickle_run):
    assert "weights_only=True and runs no code from a weights file" in one_error_line(pickle_run.stderr)
