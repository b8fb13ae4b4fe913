"""Secrets (API keys, tokens, passwords) never reach provenance, Hydra's saved configs, the console or a report;
the console shows the config at the start and where the outputs are at the end."""

import json
import logging

from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from convis.reporting.report import write
from convis.reporting.sweeps import SweepSummary
from convis.runtime import provenance
from convis.runtime.provenance import REDACTED, redact, scrub
from tests.conftest import CONF

ENV_SECRET = "env-token-0123456789"
CLI_SECRET = "cli-key-9876543210"


def test_values_under_secret_names_and_the_environments_secrets_are_redacted(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    data = {
        "logger": {"api_key": "abc", "token": None, "password": "${oc.env:DB_PASSWORD}", "project": "convis"},
        "note": f"uses {ENV_SECRET} inside",
        "command": ["python", "run.py", "+logger.api_key=abc", "layer=block1_conv1", "hf_token='a b'"],
        "keys": 3,
    }
    assert redact(data) == {
        "logger": {"api_key": REDACTED, "token": None, "password": "${oc.env:DB_PASSWORD}", "project": "convis"},
        "note": f"uses {REDACTED} inside",
        "command": ["python", "run.py", f"+logger.api_key={REDACTED}", "layer=block1_conv1", f"hf_token={REDACTED}"],
        "keys": 3,
    }
    assert scrub("WANDB_API_KEY=abc python run.py seed=1") == f"WANDB_API_KEY={REDACTED} python run.py seed=1"


def test_provenance_holds_no_secret(cfg_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    cfg = cfg_factory()
    with open_dict(cfg):
        cfg.logger = {"api_key": CLI_SECRET, "note": ENV_SECRET}
    with provenance.recorded(cfg, tmp_path):
        pass
    text = (tmp_path / "provenance.json").read_text()
    assert CLI_SECRET not in text and ENV_SECRET not in text
    assert json.loads(text)["config"]["logger"] == {"api_key": REDACTED, "note": REDACTED}


def test_a_run_keeps_secrets_out_of_every_file_and_the_console(convis, tmp_path):
    run_dir = tmp_path / "run"
    done = convis(
        "layer=block1_conv1",
        "backbone.weights=null",
        "image_size=32",
        "steps=2",
        "logger=none",
        "print_config=true",
        f"+logger.api_key={CLI_SECRET}",
        "+note=${oc.env:MY_SERVICE_TOKEN}",
        f"hydra.run.dir={run_dir}",
        MY_SERVICE_TOKEN=ENV_SECRET,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    write(run_dir)  # report.html and report.md
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    assert {"provenance.json", "config.yaml", "overrides.yaml", "hydra.yaml", "report.html", "report.md"} <= {
        p.name for p in files
    }
    for path in files:
        content = path.read_bytes()
        assert CLI_SECRET.encode() not in content and ENV_SECRET.encode() not in content, path
    console = done.stdout + done.stderr
    assert CLI_SECRET not in console and ENV_SECRET not in console
    assert "config (print_config=true shows it)" in console and "block1_conv1" in console  # the tree
    assert f"done: 1 result(s) in {run_dir} (metrics.json, images" in console
    assert f"report: python scripts/report.py {run_dir}" in console


def test_the_launchers_job_lines_show_secret_overrides_redacted(caplog):
    """Hydra's launchers log each job's overrides ("#0 : ..."): a sweep's start makes Hydra's records scrubbed."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"+logger.api_key={CLI_SECRET}"], return_hydra_config=True)
    SweepSummary().on_multirun_start(config=cfg)
    with caplog.at_level(logging.INFO):
        for launcher in ("hydra._internal.core_plugins.basic_launcher", "hydra_plugins.hydra_joblib_launcher._core"):
            logging.getLogger(launcher).info("\t#%d : %s", 0, f"layer=conv1 +logger.api_key={CLI_SECRET}")
    assert caplog.messages == [f"\t#0 : layer=conv1 +logger.api_key={REDACTED}"] * 2
