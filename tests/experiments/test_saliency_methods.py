"""sweep=saliency_methods through the real CLI: every method of conf/method/ writes its maps, the report ranks them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from convis.config import options
from convis.reporting.report import build

pytestmark = pytest.mark.slow  # 14 jobs in one command: about 30 s on 2 idle cores

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "experiment=own_network",  # a 4-class test network, random weights
    "image_size=32",
    "dataset.size=3",  # a disc, a square, a triangle
    "logger=none",
    "print_config=false",
    "objective.sanity_depths=2",
    "objective.evaluation.road_fractions=[0.5]",
    "objective.evaluation.perturbation_steps=4",
]


def test_one_command_runs_every_method_and_the_report_ranks_them(tmp_path):
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    command = [sys.executable, "run.py", "sweep=saliency_methods", *SMALL, f"hydra.sweep.dir={tmp_path}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(path.parent for path in tmp_path.glob("*/metrics.json"))
    runs = {json.loads((job / "metrics.json").read_text())["method"]: job for job in jobs}
    assert sorted(runs) == sorted(options("method")) and len(jobs) == len(runs)
    for method, job in runs.items():
        assert f"method={method}" in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        metrics = json.loads((job / "metrics.json").read_text())
        assert len(metrics["results"]) == 3 and len(metrics["sanity_check"]) == 2
        assert {"pointing_game", "deletion_auc", "road_morf", "road_lerf", "random_logit"} <= set(metrics["summary"])
        for result in metrics["results"]:
            saliency = np.load(job / result["map"])
            assert saliency.shape == (32, 32) and np.isfinite(saliency).all() and (job / result["png"]).is_file()
    eigencam = json.loads((runs["eigencam"] / "metrics.json").read_text())
    assert eigencam["summary"]["random_logit"] > 0.999  # the same map for every class: the check catches it
    ranked = build(tmp_path).sections[0]
    assert ranked.title == "saliency methods ranked"
    table = ranked.metrics.rows[:-1]  # the last row: the baselines
    assert [row[0] for row in table] == [str(n) for n in range(1, len(runs) + 1)]
    assert sorted(row[1] for row in table) == sorted(runs) and ranked.grids[0].columns == [row[1] for row in table]
    mean_ranks = [float(row[-1]) for row in table]
    assert mean_ranks == sorted(mean_ranks)
    assert len(ranked.grids[0].rows) == 3 and all(cell is not None for _, row in ranked.grids[0].rows for cell in row)
