"""False results and memory limits through the real command line: NaN or Inf weights, logits, losses and final
images, a picture whose resize would be a bomb, and an image size no memory holds are each one line and exit
status 2, never a result. One subprocess per case (5 s of CPU each, mostly imports): marked slow."""

import json
import re
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.backbones.tiny_nets import TinyNet
from tests.reliability.conftest import run

pytestmark = pytest.mark.slow
TINY = ["experiment=own_network", "image_size=32", "logger=none", "print_config=false"]
TINY += ["trainer.enable_progress_bar=false"]


def weights(path: Path, change) -> Path:
    """TinyNet's seeded weights, changed by `change(state)`, saved at `path`."""
    torch.manual_seed(0)
    state = TinyNet().state_dict()
    change(state)
    torch.save(state, path)
    return path


def bomb_header(path: Path, small: Path) -> Path:
    """A small PNG whose header claims 30000 x 30000 pixels (a decompression bomb)."""
    data = bytearray(small.read_bytes())
    data[16:24] = struct.pack(">II", 30000, 30000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("false")
    nan = weights(root / "nan.pt", lambda s: s["conv1.weight"].view(-1)[5].fill_(float("nan")))
    inf = weights(root / "inf.pt", lambda s: s["conv2.weight"].view(-1)[7].fill_(float("inf")))
    # finite, but so large that the activations overflow float32: Inf, then NaN at the head
    huge = weights(root / "huge.pt", lambda s: [s[k].mul_(1e30) for k in ("conv1.weight", "conv2.weight")])
    Image.fromarray(np.zeros((1, 100000, 3), np.uint8)).save(root / "long.png")
    folder = root / "folder"
    folder.mkdir()
    Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(folder / "fine.png")
    bomb_header(folder / "bomb.png", folder / "fine.png")
    return {"nan": nan, "inf": inf, "huge": huge, "long": root / "long.png", "folder": folder}


CASES = {
    "NaN weights, saliency": (
        ["objective=saliency", "backbone.weights={nan}"],
        "weights file {nan} holds non-finite weights: conv1.weight has NaN (1 of 216 values);",
    ),
    "Inf weights, inversion": (
        ["objective=inversion", "backbone.weights={inf}", "steps=2"],
        "weights file {inf} holds non-finite weights: conv2.weight has Inf (1 of 576 values);",
    ),
    "logits that overflow, saliency": (
        ["objective=saliency", "backbone.weights={huge}"],
        "non-finite logits of the network: {kind} (4 of 4 values); the network's weights or its input",
    ),
    "features that overflow, inversion": (
        ["objective=inversion", "backbone.weights={huge}", "steps=2"],
        "non-finite features of the originals at conv2: {kind} (",
    ),
    "a class score non-finite before the first update": (
        ["objective=class_score", "target=circle", "backbone.weights={huge}", "steps=2"],
        "became {kind} at step 1; the last finite image is in partial/: it was so before the first update, "
        "so the learning rate is not the cause",
    ),
    "a final image the last update made NaN": (
        ["objective=inversion", "optimizer=sgd", "optimizer.optim.lr=3e38", "steps=1"],
        "non-finite final image of conv2/chelsea: {kind} (",
    ),
    "a picture whose resize would be a bomb": (
        ["objective=saliency", "dataset.path={long}", "image_size=224"],
        "refusing to resize {long}: its 100000 x 1 pixels would become 22400000 x 224 at image_size=224",
    ),
    "a decompression bomb in an image folder": (
        ["objective=saliency", "dataset=image_folder", "dataset.root={folder}"],
        "refusing to load {folder}/bomb.png",
    ),
    "an image size no memory holds": (
        ["objective=inversion", "image_size=100000"],
        "image_size=100000 needs about",
    ),
}


@pytest.fixture(scope="module")
def results(files, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every case's run and its directory, two at a time."""

    def one(case: str) -> tuple[subprocess.CompletedProcess, Path]:
        folder = tmp_path_factory.mktemp("run")
        args = [arg.format(**files) for arg in CASES[case][0]]
        return run(*TINY, *args, f"hydra.run.dir={folder}"), folder

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(one, CASES)))


def error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("convis: error: ")]
    assert len(lines) == 1, done.stderr[-3000:]
    return lines[0].removeprefix("convis: error: ")


KIND = "KIND_"  # where a message names the kind of non-finite value: how a CPU's kernels overflow decides it
KINDS = r"(NaN|-?Inf)( and (NaN|-?Inf))*"  # overflowing float32 gives Inf on one machine, NaN on another


def expected(message: str, files: dict[str, Path]) -> str:
    """The pattern of a case's message: its text as it is, the kind of non-finite value any of NaN, Inf, -Inf."""
    return re.escape(message.format(kind=KIND, **files)).replace(KIND, KINDS)


@pytest.mark.parametrize("case", list(CASES))
def test_a_false_result_is_one_line_and_exit_status_2(case, files, results):
    done, folder = results[case]
    assert done.returncode == 2, done.stderr[-3000:]
    assert re.search(expected(CASES[case][1], files), error_line(done)), error_line(done)
    assert "Traceback" not in done.stderr + done.stdout
    assert not (folder / "metrics.json").exists()  # no result beside the error


def test_the_memory_refusal_names_a_size_that_fits(results):
    done, folder = results["an image size no memory holds"]
    line = error_line(done)
    size = int(line.rsplit("use image_size=", 1)[1].split()[0])
    assert 32 <= size < 100000 and "of RAM available" in line
    status = json.loads((folder / "provenance.json").read_text())["status"]
    assert status == "failed"
