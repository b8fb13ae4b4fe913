"""A plain (non-editable) install: the package is `convis` with its configs, nothing named `src`, usable anywhere."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = (".git", ".venv", "build", "*.egg-info", "outputs", "multirun", "wandb", "__pycache__", ".pytest_cache")

SCRIPT = """
import json, numpy as np, torch, convis
from torch import nn

class Mine(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 2)
    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))

image = (np.random.default_rng(0).random((24, 24, 3)) * 255).astype(np.uint8)
quiet = dict(image_size=16, trainer={"enable_progress_bar": False})
inverted = convis.invert(Mine(), image, layer="relu", steps=2, **quiet)
model = convis.class_model(Mine(), target=1, steps=2, **quiet)
maps = convis.saliency(Mine(), image, **quiet)
print(json.dumps({"file": convis.__file__, "images": len(inverted.images),
                  "target": model.metrics["results"][0]["target_index"], "maps": list(maps.tensors["maps"].shape)}))
"""


@pytest.mark.slow
def test_a_wheel_installs_convis_with_its_configs_and_works_from_another_folder(tmp_path):
    source, wheels = tmp_path / "source", tmp_path / "wheels"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*SKIPPED))  # setuptools builds inside the tree
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)]
    subprocess.run([*build, str(source)], check=True, capture_output=True)
    (wheel,) = wheels.glob("convis-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("convis-")}
    assert tops == {"convis"}  # no `src`, no `tests`, no `scripts` in site-packages
    shipped = {"convis/api.py", "convis/conf/config.yaml", "convis/conf/method/gradcam.yaml"}
    assert shipped | {"convis/params/natural_spectrum.npy"} <= set(names)  # param=maco's spectrum
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "WANDB_MODE": "disabled"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["file"]).is_relative_to(site)
    assert (seen["images"], seen["target"], seen["maps"]) == (1, 1, [1, 16, 16])
    assert not any(folder.iterdir())  # nothing written where it ran
