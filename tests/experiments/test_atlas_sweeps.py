"""A layer atlas split over the jobs of a sweep, through joblib and submitit's local executor, reported as one."""

import re
import subprocess
import sys

import pytest

from tests.reliability.conftest import ROOT, SMALL, run


def report(sweep) -> str:
    """scripts/report.py on the sweep; the atlas page."""
    done = subprocess.run(
        [sys.executable, "scripts/report.py", str(sweep)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"layer atlas: {sweep / 'atlas.html'}" in done.stdout
    return (sweep / "atlas.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "model", "count"),
    [
        ("joblib", ["layer=block1_conv1"], 64),  # VGG16's 64 channels in two jobs of 32
        ("local", ["experiment=own_network", "layer=conv1"], 8),  # submitit's real subprocesses, as on SLURM
    ],
)
def test_a_swept_atlas_comes_back_whole(tmp_path, launcher, model, count):
    half = count // 2
    done = run(
        "-m",
        f"hydra/launcher={launcher}",
        "objective=activation",
        *model,
        f"objective.channel=0:{half},{half}:{count}",
        *SMALL,
        "print_config=false",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for job, channels in enumerate([range(half), range(half, count)]):
        pictures = sorted(p.name for p in (tmp_path / str(job) / "images").glob("*.png"))
        layer = model[-1].split("=")[1]
        assert pictures == sorted(f"{layer}_{c}.png" for c in channels)
    page = report(tmp_path)
    assert re.findall(r"<h2>(.*?)</h2>", page) == [f"{layer}: {count} channels"]
    shown = [int(c) for c in re.findall(r"<figcaption>(\d+): ", page)]
    assert shown == list(range(count))
