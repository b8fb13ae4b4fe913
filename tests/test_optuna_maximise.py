"""sweep=prior_weights maximising: hydra.sweeper.direction=maximize keeps the trial whose mean metric is highest."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY_NET = ["backbone=custom", "backbone.model._target_=tests.backbones.tiny_nets.TinyNet"]


def test_a_maximising_search_keeps_the_trial_with_the_highest_mean_psnr(tmp_path):
    command = [
        *("sweep=prior_weights", "optimize_metric=psnr", "hydra.sweeper.direction=maximize"),
        *("hydra.sweeper.n_trials=3", "layer=[conv1,conv2]", "image_size=32", "steps=2", "logger=none"),
        *TINY_NET,
        f"hydra.sweep.dir={tmp_path}",
    ]
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    done = subprocess.run([sys.executable, "run.py", *command], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    means = []
    for n in range(3):
        results = json.loads((tmp_path / str(n) / "metrics.json").read_text())["results"]
        assert [r["layer"] for r in results] == ["conv1", "conv2"]
        means.append(sum(r["psnr"] for r in results) / 2)  # a trial's value: the mean over its results
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert len(set(means)) == 3 and best["best_value"] == pytest.approx(max(means))
    chosen = best["best_params"]["objective.feature_weight"]
    overrides = yaml.safe_load((tmp_path / str(means.index(max(means))) / ".hydra" / "overrides.yaml").read_text())
    assert f"objective.feature_weight={chosen}" in overrides
