"""Multiruns through the real CLI: every job its own run, a failed job recorded, Optuna and joblib, the presets."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from convis.backbones import build_backbone
from convis.reporting.report import build, write
from convis.reporting.sweeps import metric_value
from convis.runtime.errors import ConvisError

ROOT = Path(__file__).resolve().parents[1]
TINY = ["backbone.weights=null", "image_size=32", "steps=3"]
LAYERS = ["block1_conv1", "block1_conv2", "block2_conv1"]


def cli(*args: str, **env: str) -> subprocess.Popen:
    """run.py in a subprocess, offline (a closed loopback proxy), one thread per process."""
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "OMP_NUM_THREADS": "1", **env}
    return subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(job: subprocess.Popen) -> tuple[int, str]:
    out, _ = job.communicate(timeout=400)
    return job.returncode, out


def record(job_dir: Path) -> dict:
    return json.loads((job_dir / "provenance.json").read_text())


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Three layers and a bad one, W&B offline: python run.py -m layer=a,bad,b,c."""
    folder = tmp_path_factory.mktemp("sweep")
    layers = ",".join([LAYERS[0], "block9_conv1", *LAYERS[1:]])
    code, out = finish(cli("-m", f"layer={layers}", *TINY, f"hydra.sweep.dir={folder}", WANDB_MODE="offline"))
    return folder, code, out


def test_a_failed_job_is_recorded_and_the_others_still_run(sweep):
    folder, code, out = sweep
    assert code == 1, out[-3000:]  # the sweep finishes, then says that a job failed
    summary = json.loads((folder / "sweep_summary.json").read_text())
    assert [job["status"] for job in summary["jobs"]] == ["completed", "failed", "completed", "completed"]
    assert summary["completed"] == 3 and "unknown layer 'block9_conv1'" in summary["jobs"][1]["error"]
    assert record(folder / "1")["status"] == "failed" and "block9_conv1" in (folder / "1" / "run.log").read_text()
    for n, layer in zip((0, 2, 3), LAYERS):
        metrics = json.loads((folder / str(n) / "metrics.json").read_text())
        assert [r["layer"] for r in metrics["results"]] == [layer]
        assert record(folder / str(n))["overrides"][0] == f"layer={layer}"


def test_each_job_is_its_own_wandb_run_in_one_group(sweep):
    folder = sweep[0]
    runs = [list((folder / str(n) / "wandb").glob("offline-run-*")) for n in (0, 2, 3)]
    assert all(len(found) == 1 for found in runs)
    assert len({found[0].name.rsplit("-", 1)[1] for found in runs}) == 3  # three run ids
    groups = {record(folder / str(n))["config"]["logger"]["group"] for n in (0, 2, 3)}
    assert len(groups) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d", groups.pop())


def test_the_report_of_a_three_layer_multirun(sweep):
    folder = sweep[0]
    html = write(folder)[0].read_text()
    assert len(re.findall(r'<img class="picture" src="data:image/png;base64,', html)) == 3
    assert all(f"<th>{layer}</th>" in html for layer in LAYERS)
    for n in (0, 2, 3):
        error = json.loads((folder / str(n) / "metrics.json").read_text())["results"][0]["normalized_error"]
        assert f"<td>{error:.4g}</td>" in html
    command = " ".join(record(folder / "0")["command"][1:])
    assert command in html and "python run.py layer=block1_conv2 backbone.weights=null" in html
    assert html.count('src="data:image/svg+xml;base64,') == 4  # loss, feature, alpha_norm, tv


def test_an_optuna_search_runs_offline_and_reports_its_best_weights(tmp_path):
    code, out = finish(
        cli(
            "sweep=prior_weights",
            "hydra.sweeper.n_trials=3",
            "backbone=mobilenet_v2",
            "layer=block_1_expand_relu",
            "logger=none",
            *TINY,
            f"hydra.sweep.dir={tmp_path}",
        )
    )
    assert code == 0, out[-3000:]
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {
        "objective.feature_weight",
        "prior.penalties.0.weight",
        "prior.penalties.1.weight",
    }
    errors = [
        json.loads((tmp_path / str(n) / "metrics.json").read_text())["results"][0]["normalized_error"] for n in range(3)
    ]
    assert best["best_value"] == pytest.approx(min(errors))
    html = write(tmp_path)[0].read_text()
    assert "<th>objective.feature_weight</th>" in html and f"{best['best_params']['objective.feature_weight']}" in html


@pytest.mark.slow
def test_the_joblib_launcher_runs_two_jobs_in_parallel_processes(tmp_path):
    job = cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "layer=block1_conv1,block1_conv2",
        "logger=none",
        *TINY,
        f"hydra.sweep.dir={tmp_path}",
    )
    code, out = finish(job)
    assert code == 0, out[-3000:]
    records = [record(tmp_path / str(n)) for n in (0, 1)]
    assert all(
        r["status"] == "completed" and (tmp_path / str(n) / "metrics.json").exists() for n, r in enumerate(records)
    )
    pids = {r["pid"] for r in records}
    assert len(pids) == 2 and job.pid not in pids
    first, second = records
    assert first["started"] <= second["finished"] and second["started"] <= first["finished"]  # they overlapped


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize(("preset", "arch"), [("vgg16_table", "vgg16"), ("mobilenet_v2_layers", "mobilenet_v2")])
def test_layer_presets_sweep_nine_real_layers_laid_out_3x3(preset, arch):
    cfg = composed(f"sweep={preset}")
    layers = cfg.hydra.sweeper.params.layer.split(",")
    assert cfg.backbone.arch == arch and len(layers) == 9 and cfg.report.columns == 3
    backbone = build_backbone(arch, weights=None)
    assert all(backbone.path(layer) for layer in layers)
    assert cfg.hydra.mode.name == "MULTIRUN"


def test_the_seed_table_is_one_run_of_the_same_nine_layers_at_the_papers_settings():
    table, quick = composed("experiment=seed_table"), composed("experiment=seed_table_quick")
    assert list(table.layer) == composed("sweep=vgg16_table").hydra.sweeper.params.layer.split(",")
    assert table.backbone.weights == "IMAGENET1K_V1" and table.image_size == 224 and table.steps == 350
    assert (
        quick.backbone.weights is None
        and quick.image_size < 100
        and quick.steps < 350
        and list(quick.layer) == list(table.layer)
    )


def test_the_prior_search_names_real_keys():
    cfg = composed("sweep=prior_weights")
    assert cfg.hydra.sweeper.direction == "minimize" and cfg.optimize_metric == "normalized_error"
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, key


def test_the_slurm_launcher_config_composes():
    launcher = composed("hydra/launcher=slurm").hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.gpus_per_node == 1


def test_the_wandb_sweep_calls_run_py_with_overrides_that_compose():
    spec = yaml.safe_load((ROOT / "scripts" / "wandb_sweep.yaml").read_text())
    assert spec["program"] == "run.py" and spec["command"][-1] == "${args_no_hyphens}"
    overrides = [f"{k}={v.get('value', v.get('min'))}" for k, v in spec["parameters"].items()]
    cfg = composed(*overrides)
    assert cfg.objective.feature_weight == 1 and cfg.layer == "block4_conv1"
    assert spec["metric"]["name"] == f"final/{composed('sweep=prior_weights').optimize_metric}"


def test_the_returned_metric_is_the_mean_over_results():
    metrics = {"results": [{"layer": "a", "psnr": 10.0, "hit": True}, {"layer": "b", "psnr": 20.0, "hit": False}]}
    assert metric_value(metrics, "psnr") == 15.0 and metric_value(metrics, "hit") == 0.5
    assert metric_value(metrics, None) is None
    with pytest.raises(
        ConvisError, match="optimize_metric='ssim' is not in this run's results: choose one of psnr, hit"
    ):
        metric_value(metrics, "ssim")


def test_the_report_of_a_sweep_stopped_early_names_the_jobs_that_did_not_run(sweep, tmp_path):
    """A SIGTERM'd sweep leaves the directories of the jobs that started; multirun.yaml holds the sweep's plan."""
    folder = Path(shutil.copytree(sweep[0], tmp_path / "sweep"))
    shutil.rmtree(folder / "3")
    report = build(folder)
    assert report.sweep == ("The sweep had 4 jobs (multirun.yaml); 1 did not run: #3 (layer=block2_conv1).")
    assert report.jobs.rows[-1] == ["#3", "block2_conv1", "not run", "the sweep ended before this job started"]
    markdown = write(folder)[1].read_text()
    assert "3 run(s) in" in markdown and "1 did not run: #3 (layer=block2_conv1)" in markdown
