"""The layer atlas page: every channel of a layer from all the runs of a directory, in index order."""

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from convis.reporting.atlas import MAX_COLUMNS, Atlas
from convis.reporting.report import write

ROOT = Path(__file__).resolve().parents[2]


def report_main(argv: list[str]) -> int:
    """scripts/report.py's main."""
    spec = importlib.util.spec_from_file_location("report_script", ROOT / "scripts" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def make_run(path: Path, overrides: list[str], channels: list[int], objective: str = "activation") -> None:
    """A run directory holding one PNG and result per channel, its activation channel / 10."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    results = []
    for c in channels:
        png = f"images/conv1_{c}.png"
        (path / "images").mkdir(exist_ok=True)
        Image.fromarray(np.full((4, 4, 3), c, dtype=np.uint8)).save(path / png)
        results.append({"layer": "conv1", "channel": c, "neuron": None, "activation": c / 10, "png": png})
    (path / "metrics.json").write_text(json.dumps({"objective": objective, "results": results}))


def test_a_sweep_split_by_channel_range_makes_one_atlas_in_channel_order(tmp_path, capsys):
    make_run(tmp_path / "1", ["objective.channel=3:5"], [3, 4])
    make_run(tmp_path / "0", ["objective.channel=0:3"], [0, 1, 2])
    assert report_main([str(tmp_path)]) == 0
    assert f"layer atlas: {tmp_path / 'atlas.html'}" in capsys.readouterr().out
    page = (tmp_path / "atlas.html").read_text()
    assert "<h2>conv1: 5 channels</h2>" in page
    shown = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert shown == ["0: 0", "1: 0.1", "2: 0.2", "3: 0.3", "4: 0.4"]
    assert page.count("data:image/png;base64,") == 5  # self-contained
    assert page.count("<tr>") == 2  # ceil(sqrt(5)) = 3 columns
    markdown = (tmp_path / "atlas.md").read_text()
    assert "![channel 4](1/images/conv1_4.png)<br>4: 0.4" in markdown


def test_other_swept_keys_get_an_atlas_each_and_single_channels_none(tmp_path):
    for seed in (0, 1):
        make_run(tmp_path / f"{seed}", [f"seed={seed}", "objective.channel=all"], [0, 1])
    make_run(tmp_path / "2", ["seed=2", "objective.channel=7"], [7])  # one channel: no atlas
    make_run(tmp_path / "3", ["seed=3", "objective.channel=all"], [0, 1], objective="class_score")
    write(tmp_path)
    headings = re.findall(r"<h2>(.*?)</h2>", (tmp_path / "atlas.html").read_text())
    assert headings == ["conv1 (0): 2 channels", "conv1 (1): 2 channels"]


def test_no_atlas_without_channel_sets(tmp_path):
    make_run(tmp_path / "0", ["layer=conv1"], [7])
    write(tmp_path)
    assert not (tmp_path / "atlas.html").exists()


def test_wide_layers_wrap_at_sixteen_columns():
    atlas = Atlas("conv", [(c, 0.0, Path("x.png")) for c in range(512)])
    assert atlas.columns == MAX_COLUMNS and len(atlas.rows()) == 32 and atlas.rows()[1][0][0] == 16


def test_the_title_names_the_network_its_weights_the_image_size_and_the_steps(tmp_path):
    make_run(tmp_path / "0", ["objective.channel=0:2"], [0, 1])
    make_run(tmp_path / "1", ["objective.channel=2:4"], [2, 3])
    for job in ("0", "1"):
        path = tmp_path / job / "metrics.json"
        metrics = json.loads(path.read_text())
        path.write_text(json.dumps({**metrics, "backbone": "TinyNet", "weights": "random init"}))
        config = {"backbone": {"image_size": 32}, "image_size": "${backbone.image_size}", "steps": 8}
        (tmp_path / job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    write(tmp_path)
    page = (tmp_path / "atlas.html").read_text()
    assert "<h1>Layer atlas: TinyNet, random init, 32 px, 8 steps</h1>" in page
    assert 'weights: <strong class="random">random init</strong>, 32 px, 8 steps' in page
    assert f"<code>{tmp_path.name}</code>" in page  # the folder is still named, below the title
    markdown = (tmp_path / "atlas.md").read_text()
    assert "# Layer atlas: TinyNet, random init, 32 px, 8 steps" in markdown
    assert "Network: **TinyNet**, weights: **random init**, 32 px, 8 steps" in markdown
