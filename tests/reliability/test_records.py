"""In-process: a run's directory lock, the report's word on a run whose process died, names in report.md shown
as written, a full disk as one line, and a checkpoint's fingerprint against a resumed config."""

import errno
import json
import os

import pytest
from omegaconf import OmegaConf

from convis.reporting.markdown import render_markdown
from convis.reporting.report import build
from convis.runtime.errors import ConvisError
from convis.runtime.fingerprint import differences, fingerprint
from convis.runtime.lock import acquire, in_use, owned, release
from convis.runtime.writers import DiskFull, full_disk_listed, write_text
from tests.reporting.test_report import inversion, make_run


def test_a_directory_is_owned_once_per_process_and_freed_when_released(tmp_path):
    assert in_use(tmp_path) is None  # never locked: nothing to tell
    with owned(tmp_path):
        assert in_use(tmp_path) is True
        with owned(tmp_path):  # the same process again (the CLI's lock, then the run's): no conflict
            pass
        assert in_use(tmp_path) is True  # the inner block did not free the outer one's lock
    assert in_use(tmp_path) is False
    assert (tmp_path / ".convis.lock").read_text() == f"{os.getpid()}\n"


def test_a_run_whose_process_died_is_interrupted_with_the_command_that_resumes_it(tmp_path):
    make_run(tmp_path / "died", ["layer=conv2"], [], status="running")
    make_run(tmp_path / "alive", ["layer=conv2"], [], status="running")
    make_run(tmp_path / "old", ["layer=conv2"], [], status="running")  # from before runs locked their directory
    (tmp_path / "died" / "checkpoints").mkdir()
    (tmp_path / "died" / "checkpoints" / "last.ckpt").write_bytes(b"")
    acquire(tmp_path / "died")
    release(tmp_path / "died")  # a lock file nobody holds: the process that wrote "running" is gone
    acquire(tmp_path / "alive")
    try:
        rows = {row[0]: row[2:] for row in build(tmp_path).jobs.rows}
    finally:
        release(tmp_path / "alive")
    assert rows["died"] == [
        "interrupted",
        f"its process ended without a word (killed?); continue with: python run.py resume={tmp_path / 'died'}",
    ]
    assert rows["alive"] == ["running", ""] and rows["old"] == ["running", ""]


def test_report_md_shows_html_from_names_as_written(tmp_path):
    tag = "<img src=x onerror=alert(1)>"
    result = {**inversion("conv2", 0.5), "image": tag}
    make_run(tmp_path / "0", ["layer=conv2"], [result], status="failed", error={"type": "E", "message": f"{tag}|"})
    make_run(tmp_path / "1", ["layer=conv2"], [inversion("conv2", 0.5)])
    (tmp_path / "0" / "metrics.json").write_text(json.dumps({"objective": tag, "results": [result]}))
    markdown = render_markdown(build(tmp_path), [])
    assert tag not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown and "&lt;img src=x onerror=alert(1)&gt;\\|" in markdown


def test_a_full_disk_names_the_file_and_what_the_run_had_written(tmp_path, monkeypatch):
    write_text("{}", tmp_path / "metrics.json")
    write_text("x", tmp_path / "images" / "a.png")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(DiskFull) as info, full_disk_listed(tmp_path):
        write_text("x", tmp_path / "history.csv")
    assert str(info.value) == (
        f"no space left on the device writing {tmp_path / 'history.csv'}; already written: images/ (1 file), "
        "metrics.json; free some space and run again"
    )
    assert isinstance(info.value, ConvisError) and info.value.__cause__.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "metrics.json"]  # no temporary left


def test_the_fingerprint_holds_resolved_values_and_names_each_difference():
    cfg = OmegaConf.create(
        {"objective": {"steps": 5, "weight": 1.0}, "steps": "${objective.steps}", "layer": ["a", "b"], "logger": "x"}
    )
    values = fingerprint(cfg)
    assert values == {"objective.steps": 5, "objective.weight": 1.0, "steps": 5, "layer": ["a", "b"]}
    edited = {**values, "objective.weight": 2.0, "target": 3}
    del edited["layer"]
    assert differences(values, edited) == [
        "layer: ['a', 'b'] -> unset",
        "objective.weight: 1.0 -> 2.0",
        "target: unset -> 3",
    ]
