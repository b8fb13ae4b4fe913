"""report.html and report.md from hand-made run directories: what a reader sees, checked in the files."""

import base64
import csv
import importlib.util
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from convis.reporting.report import build, write
from convis.runtime.errors import ConvisError

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["block3_conv1", "block4_conv1", "block5_conv1"]
COMMAND = ["python", "run.py", "-m", "layer=" + ",".join(LAYERS)]


def png(path: Path, seed: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path.read_bytes()


def make_run(path: Path, overrides: list[str], results: list[dict], status="completed", error=None, seed=0) -> None:
    """A run directory as run.py leaves it: .hydra/, metrics.json, history.csv, provenance.json, PNGs."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = {"seed": seed, "layer": overrides[0].split("=", 1)[1], "report": {"columns": None}}
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    for n, result in enumerate(results):
        if "png" in result:
            png(path / result["png"], seed * 10 + n)
    if status == "completed":
        (path / "metrics.json").write_text(
            json.dumps({"objective": "inversion", "backbone": "vgg16", "results": results})
        )
        with (path / "history.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["step", "g/feature", "g/tv", "g/loss", "loss"])
            writer.writerows([[s, 1.0 / s, 0.5, 1.0 / s + 0.5, 1.0 / s + 0.5] for s in range(1, 6)])
    record = {
        "command": COMMAND,
        "overrides": overrides,
        "seed": seed,
        "host": "box",
        "pid": 1,
        "git": {"commit": "0123abcd" * 5, "dirty": True},
        "versions": {"python": "3.11.7", "torch": "2.14.1"},
        "device": {"cpu": "Test CPU", "cuda": None},
        "started": "2026-01-01T10:00:00+00:00",
        "finished": "2026-01-01T10:01:00+00:00",
        "status": status,
        "error": error,
        "config": config,
    }
    (path / "provenance.json").write_text(json.dumps(record))


def inversion(layer: str, error: float) -> dict:
    return {
        "image": "chelsea",
        "layer": layer,
        "normalized_error": error,
        "psnr": 20.123456,
        "ssim": 0.5,
        "png": f"images/chelsea_{layer}.png",
    }


@pytest.fixture
def sweep(tmp_path):
    """A three-layer multirun and one failed job."""
    for n, layer in enumerate(LAYERS):
        make_run(
            tmp_path / str(n),
            [f"layer={layer}", "image_size=32"],
            [inversion(layer, 0.1 * (n + 1) + 0.0123456)],
            seed=n,
        )
    make_run(
        tmp_path / "3",
        ["layer=block9_conv1", "image_size=32"],
        [],
        status="failed",
        error={"type": "ConvisError", "message": "unknown layer 'block9_conv1' for vgg16"},
    )
    return tmp_path


def test_html_embeds_each_picture_under_its_swept_value(sweep):
    html_path, _ = write(sweep)
    html = html_path.read_text()
    for n, layer in enumerate(LAYERS):
        data = base64.b64encode((sweep / str(n) / "images" / f"chelsea_{layer}.png").read_bytes()).decode()
        assert f'src="data:image/png;base64,{data}"' in html
        assert f"<th>{layer}</th>" in html
    pictures = re.findall(r'<img class="picture" src="([^"]+)"', html)
    assert len(pictures) == 3 and all(src.startswith("data:image/png;base64,") for src in pictures)


def test_html_has_the_metrics_the_failed_job_and_the_provenance(sweep):
    html = write(sweep)[0].read_text()
    for value in ("0.1123", "0.2123", "0.3123", "20.12"):
        assert f"<td>{value}</td>" in html
    assert "unknown layer &#39;block9_conv1&#39; for vgg16" in html and '<td class="failed">failed</td>' in html
    assert shlex.join(COMMAND) in html
    assert "0123abcd" * 5 in html and "2.14.1" in html and "Test CPU" in html
    assert "python run.py layer=block4_conv1 image_size=32" in html


def test_html_needs_nothing_beside_it(sweep):
    html = write(sweep)[0].read_text()
    assert not re.search(r'(src|href)="(?!data:)', html)
    charts = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    svgs = [base64.b64decode(chart).decode() for chart in charts]
    assert len(svgs) == 3 and all("<svg" in svg for svg in svgs)  # loss, feature, tv
    assert ">loss<" in svgs[0] and any(">feature<" in svg for svg in svgs)


def test_markdown_links_the_pictures_and_the_curves_by_relative_path(sweep):
    _, md_path = write(sweep)
    markdown = md_path.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert "0/images/chelsea_block3_conv1.png" in links and "report_files/loss_feature.svg" in links
    assert all((sweep / link).is_file() for link in links)
    assert "| 0.2123 |" in markdown and "| block4_conv1 |" in markdown


def test_optuna_results_are_reported(sweep):
    (sweep / "optimization_results.yaml").write_text(
        yaml.safe_dump({"name": "optuna", "best_params": {"objective.feature_weight": 42.5}, "best_value": 0.1123456})
    )
    html = write(sweep)[0].read_text()
    assert "Optuna: best parameters" in html
    assert "<th>objective.feature_weight</th><td>42.5</td>" in html and "0.1123456" in html


def test_one_run_of_nine_layers_is_laid_out_3x3_from_its_config(tmp_path):
    layers = [f"block{b}_conv{c}" for b in (3, 4, 5) for c in (1, 2, 3)]
    make_run(tmp_path, [f"layer=[{','.join(layers)}]"], [inversion(layer, 0.5) for layer in layers])
    record = json.loads((tmp_path / "provenance.json").read_text())
    record["config"]["report"]["columns"] = 3
    (tmp_path / "provenance.json").write_text(json.dumps(record))
    grid = build(tmp_path).sections[0].grids[0]
    assert [[grid.caption_of(cell) for cell in row] for _, row in grid.rows] == [layers[:3], layers[3:6], layers[6:]]
    html = write(tmp_path)[0].read_text()
    assert all(f"<figcaption>{layer}</figcaption>" in html for layer in layers)
    assert len(build(tmp_path, columns=9).sections[0].grids[0].rows) == 1  # an explicit width wins over the config


def test_heatmaps_and_strips_are_two_tables_with_each_results_caption_under_its_picture(tmp_path):
    heatmaps = [
        {"image": i, "target": t, "rank": r, "channel": c, "png": f"images/{i}_{c}.png", "caption": f"channel {c}"}
        for i, t, channels in (("disc", 0, (19, 9)), ("square", 1, (16, 19)))
        for r, c in enumerate(channels)
    ]
    strips = [{"channel": c, "view": v, "png": f"images/{c}_{v}.png"} for c in (9, 16, 19) for v in ("rel", "act")]
    make_run(tmp_path, ["layer=block_5_add"], heatmaps + strips)
    html, markdown = (path.read_text() for path in write(tmp_path))
    assert html.count('<table class="grid">') == 2  # the heatmaps, then the strips
    assert all(f"<figcaption>channel {c}</figcaption>" in html for c in (19, 9, 16))
    assert html.count("<figcaption>") == 4  # the strips have no caption
    assert "| image, target \\ rank | 0 | 1 |" in markdown and "| channel \\ view | rel | act |" in markdown
    assert markdown.count("<br>channel ") == 4


def test_values_from_the_runs_are_escaped(tmp_path):
    make_run(tmp_path / "0", ["dataset.path='<b>x.jpg'"], [inversion("a", 0.5)])
    make_run(tmp_path / "1", ["dataset.path=y.jpg"], [inversion("a", 0.5)])
    html = write(tmp_path)[0].read_text()
    assert "&lt;b&gt;x.jpg" in html and "<b>x.jpg" not in html


def test_a_folder_without_runs_is_a_one_line_error(tmp_path):
    with pytest.raises(ConvisError, match="no runs in"):
        write(tmp_path)


def test_the_script_prints_where_the_report_is_and_fails_cleanly(sweep, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("report_script", ROOT / "scripts" / "report.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(sweep)]) == 0
    assert f"report: {sweep / 'report.html'}" in capsys.readouterr().out
    assert script.main([str(tmp_path / "nothing")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_runs_of_several_objectives_get_a_section_each_with_the_saliency_means(tmp_path):
    make_run(tmp_path / "inversion", ["layer=block3_conv1"], [inversion("block3_conv1", 0.25)])
    make_run(tmp_path / "saliency", ["layer=x"], [{"image": "cat", "target": "tabby", "png": "images/cat.png"}])
    metrics = tmp_path / "saliency" / "metrics.json"
    summary = {"pointing_game": 0.75, "deletion_auc": 0.125}
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "objective": "saliency", "summary": summary}))
    report = build(tmp_path)
    assert [section.title for section in report.sections] == ["inversion", "saliency"]
    inverted, salient = report.sections
    assert inverted.summary is None and [c.result["layer"] for _, row in inverted.grids[0].rows for c in row if c]
    assert salient.summary.headers == ["run", "pointing_game", "deletion_auc"]
    assert salient.summary.rows == [["saliency", "0.75", "0.125"]]
    html, markdown = (path.read_text() for path in write(tmp_path))
    assert "<h2>Pictures: inversion</h2>" in html and "<h2>Metrics: saliency</h2>" in html
    assert "## Pictures: saliency" in markdown and "| saliency | 0.75 | 0.125 |" in markdown


def test_the_header_names_the_network_and_a_target_not_reached_is_marked(tmp_path):
    """A class model on random weights: its weights stand out, and the picture whose target lost says so."""
    results = [
        {"target": "tabby", "target_rank": 685, "reached": False, "png": "images/tabby.png"},
        {"target": "goldfish", "target_rank": 1, "reached": True, "png": "images/goldfish.png"},
    ]
    make_run(tmp_path, ["target=[tabby,goldfish]"], results)
    config = {"backbone": {"arch": "vgg16", "weights": None}, "image_size": 32, "steps": 3}
    (tmp_path / "provenance.json").write_text(
        json.dumps({**json.loads((tmp_path / "provenance.json").read_text()), "config": config})
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    (tmp_path / "metrics.json").write_text(json.dumps({**metrics, "objective": "class_score"}))
    html_path, md_path = write(tmp_path)
    page = html_path.read_text()
    assert 'Network: <b>vgg16</b>, weights: <strong class="random">random init</strong>, 32 px, 3 steps' in page
    assert re.findall(r'<figcaption class="missed">(.*?)</figcaption>', page) == ["not reached (rank 685)"]
    markdown = md_path.read_text()
    assert "Network: **vgg16**, weights: **random init**, 32 px, 3 steps" in markdown
    assert markdown.count("**not reached (rank 685)**") == 1


def test_pretrained_weights_are_named_plainly(tmp_path):
    make_run(tmp_path, ["layer=block3_conv1"], [inversion("block3_conv1", 0.5)])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    extra = {"weights": "IMAGENET1K_V1", "image_size": 64, "steps": 200}
    (tmp_path / "metrics.json").write_text(json.dumps({**metrics, **extra}))
    page = write(tmp_path)[0].read_text()
    assert "Network: <b>vgg16</b>, weights: IMAGENET1K_V1, 64 px, 200 steps</p>" in page
