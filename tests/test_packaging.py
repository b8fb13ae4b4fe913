"""How convis installs: a wheel is `convis` with its configs and nothing named `src`, usable anywhere; an editable
install (make setup's) wins over a folder named convis where Python runs, such as the clone itself."""

import json
import os
import pydoc
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import convis

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
    built = subprocess.run([*build, str(source)], check=True, capture_output=True, text=True)
    assert "warning" not in (built.stdout + built.stderr).lower(), built.stderr[-2000:]
    (wheel,) = wheels.glob("convis-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("convis-")}
    assert tops == {"convis"}  # no `src`, no `tests`, no `scripts` in site-packages
    configs = {f"convis/conf/{path.relative_to(ROOT / 'conf').as_posix()}" for path in (ROOT / "conf").rglob("*.yaml")}
    assert configs | {"convis/api.py", "convis/params/natural_spectrum.npy"} <= set(names)  # param=maco's spectrum
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


def beside_a_clone(folder: Path, source: Path) -> Path:
    """`folder` holding `source` as `convis/`, as after `git clone ... convis`: a namespace package to Python."""
    folder.mkdir(exist_ok=True)
    (folder / "convis").symlink_to(source, target_is_directory=True)
    return folder


IMPORTED = "import json, convis; print(json.dumps({'file': convis.__file__, 'all': convis.__all__}))"


def imported(python: str | Path, folder: Path) -> dict:
    """What `import convis` gives a script run in `folder`: its file and exported names."""
    done = subprocess.run([str(python), "-c", IMPORTED], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_installed_convis_wins_over_a_clone_in_the_working_folder(tmp_path):
    """A script beside the clone imports the installed package, not the clone's root as a namespace package."""
    seen = imported(sys.executable, beside_a_clone(tmp_path, ROOT))
    assert Path(seen["file"]).resolve() == ROOT / "src" / "__init__.py"
    assert {"invert", "saliency", "render"} <= set(seen["all"])


def setup_install() -> list[str]:
    """The options of make setup's editable install of convis (its other `-e` installs take the same ones; the one
    that only remakes the links adds --no-deps)."""
    installs = []
    for line in (ROOT / "Makefile").read_text().splitlines():
        words = shlex.split(line, comments=True) if "pip install" in line else []
        if "-e" in words:
            words = words[words.index("install") + 1 :]
            del words[words.index("-e") : words.index("-e") + 2]
            installs.append([word for word in words if word != "--no-deps"])
    assert installs and all(words == installs[0] for words in installs), installs
    return installs[0]


def test_make_setup_installs_convis_so_that_a_clone_in_the_working_folder_does_not_shadow_it(tmp_path):
    """make setup's install, done from a fresh copy into a bare environment, holds beside that copy."""
    source = tmp_path / "clone"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*SKIPPED))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
    python = tmp_path / "env" / "bin" / "python"
    (site,) = Path(tmp_path / "env" / "lib").glob("python*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # this one's, convis left out
    install = [str(python), "-m", "pip", "install", *setup_install(), "--no-deps", "--no-build-isolation", "-e", "."]
    done = subprocess.run(install, cwd=source, check=True, capture_output=True, text=True)
    assert "`packages` configuration" not in done.stdout + done.stderr  # each folder of configs is a package
    seen = imported(python, beside_a_clone(tmp_path / "work", source))
    assert Path(seen["file"]).resolve() == source / "src" / "__init__.py"


def test_dir_and_help_show_the_lazily_imported_api():
    """Tab completion and help(convis) list the API that convis imports on first use."""
    assert set(convis.__all__) <= set(dir(convis))
    assert all(getattr(convis, name) is not None for name in convis.__all__)
    shown = pydoc.render_doc(convis, renderer=pydoc.plaintext)
    assert convis.__doc__.splitlines()[0] in shown
    assert all(f"{name}(" in shown for name in ("invert", "class_model", "saliency", "render", "run"))
