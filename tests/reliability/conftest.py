"""Running the real command line in a subprocess, with nothing able to leave the machine."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["backbone.weights=null", "image_size=32", "steps=2", "logger=none"]
# a proxy on a closed loopback port: any download fails at once
OFFLINE = {
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "OMP_NUM_THREADS": "1",
    "WANDB_MODE": "disabled",
    "WANDB_ERROR_REPORTING": "false",
}


def environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, **OFFLINE, **extra}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def start(*args: str, **env: str) -> subprocess.Popen:
    """`python run.py ARGS` running in the background, its output captured."""
    return subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python run.py ARGS` to its end."""
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, env=environment(**env), capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def convis():
    """The real CLI: convis(*args, **env) -> CompletedProcess."""
    return run
