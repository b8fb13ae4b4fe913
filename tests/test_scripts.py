"""scripts/download_weights.py with the download replaced (no network), and the smallest scripts/bench.py run."""

import importlib.util
import json
import sys
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision.models._api as tv_api

ROOT = Path(__file__).resolve().parents[1]


def script(name: str):
    """A script of scripts/ as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_download_weights_fetches_each_arch_s_imagenet_file_into_the_hub_cache(hub, monkeypatch, capsys):
    asked = []

    def download(url, *args, **kwargs):
        asked.append((url, kwargs.get("check_hash"), kwargs.get("weights_only")))
        return {}

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", download)
    assert script("download_weights").main(["vgg16", "mobilenet_v2"]) == 0
    files = [url.rsplit("/", 1)[-1] for url, *_ in asked]
    assert files == ["vgg16-397923af.pth", "mobilenet_v2-b0353104.pth"]  # torchvision's IMAGENET1K_V1
    assert all(check and only for _, check, only in asked)  # hash checked, no code run from the file
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "vgg16 IMAGENET1K_V1: cached",
        "mobilenet_v2 IMAGENET1K_V1: cached",
        f"cache folder: {hub}/checkpoints",
    ]


def test_download_weights_offline_is_one_line_naming_the_file_and_the_folder(hub, monkeypatch, capsys):
    def offline(url, *args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline)
    assert script("download_weights").main(["vgg16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convis: error: pretrained weights vgg16 IMAGENET1K_V1")
    assert f"place vgg16-397923af.pth in {hub}/checkpoints" in err and "no network" in err


def test_download_weights_names_the_valid_weights_for_a_bad_one(hub, capsys):
    assert script("download_weights").main(["vgg16", "--weights", "IMAGENET9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "IMAGENET9" in err and "IMAGENET1K_V1" in err


def test_bench_rows_and_ratios_agree(tmp_path, monkeypatch, capsys):
    bench = script("bench")
    monkeypatch.setattr(bench, "user_run_peak_mib", lambda *args: 123.0)  # a whole run.py in a subprocess
    monkeypatch.setattr(bench, "overhead", lambda *args: None, raising=False)
    out = tmp_path / "bench.json"
    argv = ["--archs", "mobilenet_v2", "--sizes", "32", "--cases", "inversion_shallow", "--steps", "2", "--warmup", "1"]
    argv += ["--atlas", "2"]  # two channels of VGG16 block3_conv1, as a layer atlas
    assert bench.main([*argv, "--device", "cpu", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rates = {row["approach"]: row["steps_per_s"] for row in result["rows"]}
    assert {"convis", "convis-uncut", "naive"} <= set(rates) and all(rate > 0 for rate in rates.values())
    assert all(row["layer"] == "block_2_add" and row["size"] == 32 for row in result["rows"])
    assert result["rows"][0]["gflops_per_step"] > 0  # convis's counted FLOPs, for the share of the peak
    (ratio,) = result["ratios"]
    assert ratio["vs_naive"] == pytest.approx(rates["convis"] / rates["naive"])
    assert ratio["vs_lucent"] == (pytest.approx(rates["convis"] / rates["lucent"]) if "lucent" in rates else None)
    printed = capsys.readouterr().out
    assert f"inversion_shallow: {ratio['vs_naive']:.2f}x" in printed
    for row in result["rows"]:
        assert f"{row['approach']:>14} {row['steps_per_s']:8.2f} steps/s" in printed
    assert result["run_peak_rss_mib"] == {"mobilenet_v2 out_relu 32px": 123.0}  # the deep inversion
    atlas = {row["approach"]: row for row in result["atlas"]}
    assert atlas["convis"]["channels_per_s"] > 0 and atlas["convis"]["layer"] == "block3_conv1"
    assert f"{'convis':>31} {atlas['convis']['channels_per_s']:8.2f} channels/s" in printed


def fake_fit(seconds: dict[int, list[float]]):
    """A stand-in for a timed overhead run: each call at `steps` takes the next of seconds[steps]."""
    return lambda steps, folder, device, optimizer: (seconds[steps].pop(0), torch.zeros(1))


def test_bench_overhead_drops_repeats_that_measured_nothing_and_says_when_none_did(monkeypatch):
    bench = script("bench")
    # per step (long - short) / 1000 steps: convis 0.9 ms, then less than nothing (the longer run cheaper: load)
    monkeypatch.setattr(bench, "overhead_convis", fake_fit({50: [0.0, 0.1, 0.9], 1050: [1.0, 0.6]}))
    monkeypatch.setattr(bench, "overhead_hand", fake_fit({50: [0.0, 0.1, 0.2], 1050: [0.7, 0.95]}))
    found = bench.overhead(2, "cpu")
    assert found["ratio"] == pytest.approx(1.5) and found["repeats_not_measured"] == 1
    assert bench.overhead_line(found).endswith("1.50x (median of repeats 1.50x; 1 not measured at this load)")
    monkeypatch.setattr(bench, "overhead_convis", fake_fit({50: [0.0, 0.9], 1050: [0.5]}))
    monkeypatch.setattr(bench, "overhead_hand", fake_fit({50: [0.0, 0.1], 1050: [0.7]}))
    found = bench.overhead(1, "cpu")
    assert found["ratio"] is None and "not measured" in bench.overhead_line(found)
