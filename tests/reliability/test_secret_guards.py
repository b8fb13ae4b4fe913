"""Secrets stay out of the CLI's one-line errors and out of a multirun's multirun.yaml."""

import importlib.util

import pytest

from convis.runtime.errors import ConvisError
from convis.runtime.provenance import REDACTED
from tests.reliability.conftest import ROOT, run

API_KEY = "wandb-0123456789abcdefghij"  # a long value, as W&B's keys are
TOKEN = "env-token-9876543210zyxw"
TINY_NET = ["backbone=custom", "backbone.model._target_=tests.backbones.tiny_nets.TinyNet"]


@pytest.fixture
def run_script():
    """run.py as a module (its hydra.main is not started by importing it)."""
    spec = importlib.util.spec_from_file_location("convis_run_script", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_jobs_error_line_is_scrubbed(run_script, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", API_KEY)
    err = ConvisError(f"unknown layer '{API_KEY}' for vgg16; see hf_token=abc12345678 in your settings")
    with pytest.raises(SystemExit) as stop:
        run_script.failed_job(err)
    assert stop.value.code == 2
    line = capsys.readouterr().err
    assert line.startswith("convis: error: unknown layer") and f"'{REDACTED}'" in line
    assert API_KEY not in line and "abc12345678" not in line and f"hf_token={REDACTED}" in line


def test_a_command_line_error_before_any_job_is_scrubbed(convis, tmp_path):
    """An override of a secret-named key the config lacks: Hydra's message repeats the override."""
    done = convis(f"logger.api_key={API_KEY}", f"hydra.run.dir={tmp_path / 'run'}", WANDB_API_KEY=API_KEY)
    assert done.returncode == 2
    assert done.stderr.startswith("convis: error: unknown key logger.api_key"), done.stderr[-2000:]
    assert API_KEY not in done.stdout + done.stderr and f"+logger.api_key={REDACTED}" in done.stderr


@pytest.mark.slow
def test_a_multirun_writes_no_secret_into_multirun_yaml(tmp_path):
    sweep = tmp_path / "sweep"
    done = run(
        "-m",
        *TINY_NET,
        "layer=conv1",
        "image_size=16",
        "steps=1",
        "logger=none",
        f"+logger.api_key={API_KEY}",
        f"+note={TOKEN}",
        f"hydra.sweep.dir={sweep}",
        MY_SERVICE_TOKEN=TOKEN,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    multirun = (sweep / "multirun.yaml").read_text()
    assert f"logger.api_key={REDACTED}" in multirun and f"note={REDACTED}" in multirun
    for path in [p for p in sweep.rglob("*") if p.is_file()]:
        content = path.read_bytes()
        assert API_KEY.encode() not in content and TOKEN.encode() not in content, path
