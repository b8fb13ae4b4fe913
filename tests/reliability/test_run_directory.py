"""Nothing lost, nothing false, through the real command line: a run owns its directory, results are written
before the final checkpoint, a resume continues only the optimisation its checkpoint holds, and a process that
died shows in the report as interrupted, with how to go on. Several subprocesses per test: marked slow."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.reliability.conftest import ROOT, environment, run

pytestmark = pytest.mark.slow
TINY = ["experiment=own_network", "image_size=32", "logger=none", "print_config=false"]
TINY += ["trainer.enable_progress_bar=false"]


def convis_in(cwd: Path, *args: str) -> subprocess.Popen:
    """`python run.py ARGS` started from the folder `cwd`, its output captured."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=cwd,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, job: subprocess.Popen, seconds: float = 600) -> None:  # a busy machine starts slowly
    end = time.monotonic() + seconds
    while not path.exists():
        assert job.poll() is None, job.communicate()[1][-3000:]
        assert time.monotonic() < end, f"no {path} after {seconds} s"
        time.sleep(0.01)


def error_line(done: subprocess.CompletedProcess) -> str:
    """The one line a failed run printed: exit status 2, no traceback."""
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A completed 4-step run; its checkpoint, written after the results, holds the finished state."""
    folder = tmp_path_factory.mktemp("finished")
    done = run(*TINY, "steps=4", "checkpoint_every=3", f"hydra.run.dir={folder}")
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["step"] == 4 and checkpoint["convis_config"]["layer"] == "conv2"
    return folder


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "run"))


def test_a_second_run_into_a_directory_in_use_fails_and_a_killed_run_resumes_from_there(tmp_path):
    folder, cwd = tmp_path / "run", tmp_path / "cwd"
    first = convis_in(cwd, *TINY, "steps=30", "checkpoint_every=2", f"hydra.run.dir={folder}")
    wait_for(folder / "checkpoints" / "last.ckpt", first)
    first.send_signal(signal.SIGSTOP)  # still running, its directory in use
    try:
        config = (folder / ".hydra" / "config.yaml").read_text()
        second = run(*TINY, "steps=30", "seed=1", f"hydra.run.dir={folder}")
        assert error_line(second) == (
            f"convis: error: {folder} is in use by another run (pid {first.pid}): give this run a directory of its "
            "own (hydra.run.dir=... or hydra.sweep.dir=...), or wait for that run to end"
        )
        assert (folder / ".hydra" / "config.yaml").read_text() == config  # the first run's config, not the second's
        assert json.loads((folder / "provenance.json").read_text())["pid"] == first.pid
    finally:
        first.kill()  # SIGKILL: nothing recorded, the lock freed by the system
        first.communicate(timeout=60)

    from convis.reporting.report import build

    job = build(folder).jobs.rows[0]
    assert job[2] == "interrupted" and job[3].endswith(f"continue with: python run.py resume={folder}")

    resumed = convis_in(cwd, f"resume={folder}")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert list(cwd.iterdir()) == []  # no outputs/DATE/TIME beside the run
    assert "done: 1 result(s)" in (folder / "run.log").read_text().splitlines()[-2]  # its log is the run's
    assert json.loads((folder / "provenance.json").read_text())["status"] == "completed"
    assert (folder / ".hydra" / "config.yaml").read_text() == config
    assert build(folder).jobs.rows[0][2:] == ["completed", ""]


def test_names_that_become_one_file_name_are_refused_before_any_work(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for name in ("a é.png", "a è.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(pictures / name)
    done = run(*TINY, "steps=2", f"dataset.path={pictures}", f"hydra.run.dir={tmp_path / 'run'}")
    assert error_line(done) == (
        "convis: error: several images are named a è, a é (file name a_): their results would overwrite each "
        "other; rename the files so their names differ in letters, digits, '.', '_' or '-' (not only in case)"
    )
    assert not (tmp_path / "run" / "images").exists()


FULL_DISK = """
import errno, os, runpy, sys
sys.path.insert(0, os.getcwd())
replace = os.replace
def full(source, target, *args, **kwargs):
    if "checkpoints" in str(target):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))
    return replace(source, target, *args, **kwargs)
os.replace = full
sys.argv = ["run.py", *sys.argv[1:]]
runpy.run_path(os.path.join(os.getcwd(), "run.py"), run_name="__main__")
"""


def test_a_full_disk_at_the_final_checkpoint_keeps_the_results_and_says_so_in_one_line(tmp_path):
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK)
    folder = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(script), *TINY, "steps=3", "checkpoint_every=3", f"hydra.run.dir={folder}"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert error_line(done) == (
        f"convis: error: no space left on the device writing {folder}/checkpoints/last.ckpt; already written: "
        "checkpoints/ (0 files), history.csv, images/ (2 files), metrics.json, provenance.json, run.log; "
        "free some space and run again"
    )
    metrics = json.loads((folder / "metrics.json").read_text())
    assert [Image.open(folder / r["png"]).size for r in metrics["results"]] == [(32, 32)]
    record = json.loads((folder / "provenance.json").read_text())
    assert record["status"] == "failed" and record["error"]["type"] == "DiskFull"
    assert not list(folder.rglob("*.tmp"))


def test_resume_refuses_a_config_edited_since_the_checkpoint(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    saved = folder / ".hydra" / "config.yaml"
    saved.write_text(saved.read_text().replace("layer: conv2", "layer: conv1"))
    metrics = (folder / "metrics.json").read_bytes()
    assert error_line(run(f"resume={folder}")) == (
        f"convis: error: resume={folder}: the run's config no longer matches its checkpoint (layer: conv2 -> "
        "conv1): undo the edit to its .hydra/config.yaml, or start a new run with the new settings"
    )
    assert (folder / "metrics.json").read_bytes() == metrics


def test_resume_from_a_truncated_checkpoint_is_a_one_line_error(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    checkpoint = folder / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    line = error_line(run(f"resume={folder}"))
    assert line.startswith(f"convis: error: resume={folder}: cannot read {checkpoint} (")
    assert line.endswith("): it is truncated or damaged; start afresh without resume=")


def test_a_finished_runs_directory_is_refused_to_another_run_before_any_work(finished, tmp_path):
    folder = copy_of(finished, tmp_path)
    before = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file() and path.name != ".convis.lock"}
    done = run(*TINY, "steps=2", "objective=saliency", f"hydra.run.dir={folder}")
    assert error_line(done) == (
        f"convis: error: {folder} holds a finished run's results (metrics.json): give this run a directory of its "
        f"own (hydra.run.dir=..., hydra.sweep.dir=... or output_dir=...), or delete {folder} first"
    )
    after = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file() and path.name != ".convis.lock"}
    assert after == before  # its .hydra/ files, metrics and record as they were


def test_the_apis_output_dir_given_to_a_second_run_is_refused_and_an_empty_or_new_one_is_taken(tmp_path):
    import convis
    from convis.runtime.errors import ConvisError

    small = ["experiment=own_network", "image_size=32", "steps=2", "trainer.enable_progress_bar=false"]
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "new" / "run"):
        assert convis.run([*small, "objective=inversion"], output_dir=folder).metrics["results"]
    metrics = (tmp_path / "empty" / "metrics.json").read_bytes()
    with pytest.raises(ConvisError) as info:
        convis.run([*small, "objective=activation"], output_dir=tmp_path / "empty")
    assert str(info.value).startswith(f"{tmp_path / 'empty'} holds a finished run's results (metrics.json): ")
    assert (tmp_path / "empty" / "metrics.json").read_bytes() == metrics
    assert not (tmp_path / "empty" / "partial").exists()
