"""The command line's own help and shell completion, and W&B falling back to offline logging when its server
cannot be reached (a closed local port: nothing leaves the machine)."""

import json
from pathlib import Path

import pytest

from tests.reliability.conftest import ROOT, SMALL

GROUPS = sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name not in ("hydra",))


def test_help_lists_every_group_with_its_options_and_the_top_level_keys(convis):
    done = convis("--help")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for group in GROUPS:
        options = ", ".join(sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml")))
        assert f"{group}: {options}" in lines, group
    assert (
        any(line.strip().startswith("layer ") for line in lines)
        and 'eval "$(python run.py -sc install=bash)"' in done.stdout
    )


def test_shell_completion_offers_a_groups_options(convis):
    done = convis("-sc", "query=bash", COMP_LINE="python run.py backbone=")
    assert (
        done.returncode == 0
        and "backbone=vgg16" in done.stdout.split()
        and "backbone=mobilenet_v2" in done.stdout.split()
    )


@pytest.mark.slow
def test_an_unreachable_wandb_server_means_offline_logging_with_a_warning(convis, tmp_path: Path):
    done = convis(
        "layer=block1_conv1",
        *SMALL[:-1],
        "logger=wandb",
        "logger.mode=online",
        "print_config=false",
        f"hydra.run.dir={tmp_path}",
        WANDB_MODE="online",
        WANDB_BASE_URL="http://127.0.0.1:9",
        WANDB_API_KEY="0" * 40,
        WANDB_INIT_TIMEOUT="3",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "W&B could not start online" in output and "logging offline instead" in output
    assert json.loads((tmp_path / "metrics.json").read_text())["results"][0]["layer"] == "block1_conv1"
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))  # the run's log, to `wandb sync` later
