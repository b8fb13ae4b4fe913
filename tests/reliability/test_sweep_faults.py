"""A sweep on a disk that fills up, through the real command line: its second job and its summary cannot be
written. The sweep exits 1, each failure is one line (no logging traceback), and the report says what the
job died of. One tiny two-job sweep, run once for the module."""

import errno
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from convis.reporting.report import build
from tests.reliability.conftest import ROOT, environment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full"),
]
SECRET = "sweep-key-0123456789"
# The disk fills between the two jobs: once the second job's directory exists, a file opened for writing in
# the sweep directory goes to /dev/full, whose every write fails with ENOSPC. Hydra's own .hydra/ files and the
# lock files are spared: tiny, they were the last to fit.
FULL_DISK = """
import builtins, io, logging, os, runpy, sys
sweep = os.environ["FULL_SWEEP"]
def full(path):
    path = os.path.abspath(os.fspath(path))
    spared = "/.hydra/" in path or path.endswith(".convis.lock")
    return path.startswith(sweep + os.sep) and os.path.isdir(os.path.join(sweep, "1")) and not spared
real_open, real_os_open = builtins.open, os.open
def fake_open(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+") and full(file):
        file, mode = "/dev/full", "wb" if "b" in mode else "w"
    return real_open(file, mode, *args, **kwargs)
def fake_os_open(path, flags, mode=0o777, **kwargs):
    if flags & (os.O_WRONLY | os.O_RDWR) and full(path):
        return real_os_open("/dev/full", os.O_WRONLY)
    return real_os_open(path, flags, mode, **kwargs)
builtins.open = io.open = logging.FileHandler._builtin_open = fake_open
os.open = fake_os_open
sys.path.insert(0, os.getcwd())
sys.argv = ["run.py", *sys.argv[1:]]
runpy.run_path(os.path.join(os.getcwd(), "run.py"), run_name="__main__")
"""


@pytest.fixture(scope="module")
def full_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("full")
    script, sweep_dir = folder / "full_disk.py", folder / "sweep"
    script.write_text(FULL_DISK)
    args = ["-m", "backbone.weights=null", "image_size=32", "steps=2", "logger=none", "print_config=false"]
    args += ["layer=block1_conv1,block1_conv2", f"+logger.api_key={SECRET}", f"hydra.sweep.dir={sweep_dir}"]
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env=environment(FULL_SWEEP=str(sweep_dir)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return sweep_dir, done


def test_a_sweep_on_a_full_disk_exits_1_and_says_each_failure_in_one_line(full_sweep):
    sweep_dir, done = full_sweep
    console = done.stdout + done.stderr
    assert done.returncode == 1, console[-3000:]
    assert "Logging error" not in console and "Traceback" not in console, console[-3000:]
    lines = console.splitlines()
    log_file = [line for line in lines if "run.log" in line]
    assert log_file == [
        f"convis: warning: cannot write the log file {sweep_dir / '1' / 'run.log'} ([Errno 28] No space left on "
        "device): its later lines are lost"
    ]
    summary = f"no space left on the device writing {sweep_dir / 'sweep_summary.json'}; free some space and run again"
    assert sum(line.endswith(f"sweep summary not written: {summary}") for line in lines) == 1
    assert any("1 of 2 jobs completed" in line for line in lines)


def test_the_report_says_what_the_job_that_died_on_the_full_disk_died_of(full_sweep):
    sweep_dir, _ = full_sweep
    rows = {row[0]: row[2:] for row in build(sweep_dir).jobs.rows}
    assert rows["0"] == ["completed", ""]
    status, error = rows["1"]
    assert status == "failed" and error.startswith(f"no space left on the device writing {sweep_dir / '1'}/"), error


def test_the_launchers_lines_show_secret_overrides_redacted(full_sweep):
    _, done = full_sweep
    console = done.stdout + done.stderr
    assert SECRET not in console
    assert "#0 : backbone.weights=null" in console and "+logger.api_key=REDACTED" in console


def test_a_full_disk_met_by_hydra_between_jobs_stops_the_sweep_in_one_line(monkeypatch, capsys):
    """Hydra writes each job's .hydra/ files before the job starts: on a full disk that write fails outside any job."""
    spec = importlib.util.spec_from_file_location("convis_run_script", ROOT / "run.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def hydra_on_a_full_disk() -> None:
        script.job_started = True  # an earlier job ran
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(script, "main", hydra_on_a_full_disk)
    monkeypatch.setattr(sys, "argv", ["run.py", "-m", "layer=block1_conv1,block1_conv2"])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as stop:
        script.cli()
    assert stop.value.code == 1
    assert capsys.readouterr().err == (
        "convis: error: no space left on the device writing the .hydra/ files of a job; free some space and run again\n"
    )
