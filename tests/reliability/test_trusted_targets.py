"""A config that names a callable convis does not build (torch.load, shutil.copyfile) is refused before any work,
in one line and exit status 2, from the command line, a multirun, a tampered run directory, the Python API and
scripts/layers.py; its payload never runs."""

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

import convis
from convis.runtime.errors import ConvisError
from tests.conftest import make_cfg
from tests.reliability.conftest import ROOT, SMALL, environment, run

SALIENCY = [
    "objective=saliency",
    "dataset.names=[chelsea]",
    "~objective.localisation.foreground_quantile",
    "~objective.localisation.background_quantile",
    "~objective.localisation.iterations",
]
REFUSED = "is not something a config may build: a config builds convis's own classes and functions"


class Payload:
    """Unpickling it creates `marker`: the sign that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return open, (str(self.marker), "w")


def copy_over(tmp_path: Path, key: str = "objective.localisation") -> tuple[list[str], Path]:
    """Overrides that make `key` shutil.copyfile a file over a precious one, and the precious file."""
    source, precious = tmp_path / "source.txt", tmp_path / "precious.txt"
    source.write_text("overwritten")
    precious.write_text("precious")
    return [f"{key}._target_=shutil.copyfile", f"+{key}.src={source}", f"+{key}.dst={precious}"], precious


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one line a refused run prints: exit status 2, nothing else on stderr."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_the_command_line_refuses_torch_load_and_unpickles_nothing(tmp_path):
    marker, evil = tmp_path / "unpickled", tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Payload(marker)))
    target = ["objective.localisation._target_=torch.load", f"+objective.localisation.f={evil}"]
    result = run(
        *SMALL, *SALIENCY, *target, "+objective.localisation.weights_only=false", f"hydra.run.dir={tmp_path}/r"
    )
    assert error_line(result) == (
        f"convis: error: objective.localisation._target_=torch.load {REFUSED} (convis.*), torch.optim.*, "
        "torchvision.transforms.v2.*, lightning.pytorch.loggers.*, lightning.Trainer, wandb.Settings, and under "
        "backbone.model an nn.Module class; to allow a callable of your own, set CONVIS_TRUSTED_TARGETS=torch.load "
        "in the environment (names separated by commas)"
    )
    assert not marker.exists()


def test_a_multirun_job_is_refused_and_overwrites_nothing(tmp_path):
    overrides, precious = copy_over(tmp_path)
    result = run("-m", *SMALL, *SALIENCY, *overrides, f"hydra.sweep.dir={tmp_path}/sweep", "seed=0,1")
    assert result.returncode != 0 and REFUSED in result.stderr + result.stdout
    assert precious.read_text() == "precious"


def test_resume_refuses_a_tampered_run_directory_and_overwrites_nothing(tmp_path):
    overrides, precious = copy_over(tmp_path)
    folder = tmp_path / "shared_run"
    cfg = make_cfg(folder, *SALIENCY, *overrides)
    with open_dict(cfg):
        cfg.output_dir = str(folder)
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    line = error_line(run(f"resume={folder}"))
    assert line.startswith(f"convis: error: objective.localisation._target_=shutil.copyfile {REFUSED}")
    assert precious.read_text() == "precious"


def test_the_python_api_refuses_it_with_a_convis_error(tmp_path):
    overrides, precious = copy_over(tmp_path)
    with pytest.raises(ConvisError, match=r"^objective.localisation._target_=shutil.copyfile is not something"):
        convis.run([*SMALL, *SALIENCY, *overrides])
    assert precious.read_text() == "precious"


def test_scripts_layers_refuses_a_network_that_is_not_a_module_class(tmp_path):
    overrides, precious = copy_over(tmp_path, "backbone.model")
    result = subprocess.run(
        [sys.executable, "scripts/layers.py", "backbone=custom", *overrides],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert error_line(result).startswith(f"convis: error: backbone.model._target_=shutil.copyfile {REFUSED}")
    assert precious.read_text() == "precious"


def test_a_hydra_callback_from_the_command_line_is_refused_before_hydra_builds_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("kept")
    source = tmp_path / "payload.txt"
    source.write_text("overwritten")
    callback = "hydra.callbacks.x"
    done = run(
        "backbone.weights=null",
        "image_size=32",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"+{callback}._target_=shutil.copyfile",
        f"+{callback}.src={source}",
        f"+{callback}.dst={victim}",
    )
    assert done.returncode == 2 and victim.read_text() == "kept"
    assert done.stderr.strip().splitlines() == [
        f"convis: error: {callback}._target_=shutil.copyfile is not something a command line may build: Hydra's own "
        "settings build hydra.experimental.callbacks.*, hydra_plugins.*; to allow a callable of your own, set "
        "CONVIS_TRUSTED_TARGETS=shutil.copyfile in the environment"
    ]
