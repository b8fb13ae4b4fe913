"""The saliency methods' ranking in a report, from hand-made run directories with known summaries."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from convis.reporting.ranking import ranks
from convis.reporting.report import build, write

KEYS = ("pointing_game", "deletion_auc", "insertion_auc", "road_morf", "road_lerf", "random_logit")
BASELINE = {"pointing_game_centre": 0.5, "deletion_auc_random": 0.45, "insertion_auc_random": 0.55}
METHODS = {  # the six summary values, then the sanity check's Spearman per depth
    "gradient": ((0.9, 0.2, 0.8, 0.3, 0.7, 0.1), (0.5, 0.1)),  # ranks 1 2 2 1 1 1, sanity 0.3: 1 -> mean 1.29
    "eigencam": ((0.9, 0.3, 0.9, 0.4, 0.6, 1.0), (0.9, 0.7)),  # ranks 1 3 1 2 2 3, sanity 0.8: 3 -> mean 2.14
    "gradcam": ((0.5, 0.1, 0.5, 0.5, 0.5, 0.2), (0.4, 0.4)),  # ranks 3 1 3 3 3 2, sanity 0.4: 2 -> mean 2.43
}
IMAGES = ("disc", "square")


def make_saliency_run(path: Path, method: str) -> None:
    """A saliency run directory: metrics.json with a summary and the sanity check, and a PNG per image."""
    values, sanity = METHODS[method]
    results = []
    for seed, image in enumerate(IMAGES):
        (path / "images").mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path / "images" / f"{image}_{method}.png")
        results.append({"image": image, "target": image, "png": f"images/{image}_{method}.png"})
    metrics = {
        "objective": "saliency",
        "method": method,
        "results": results,
        "summary": {**dict(zip(KEYS, values)), **BASELINE},
        "sanity_check": [{"randomised": f"layer{i}", "spearman": s} for i, s in enumerate(sanity)],
    }
    (path / "metrics.json").write_text(json.dumps(metrics))


def test_ranks_put_the_best_first_and_ties_share_the_better_rank():
    assert ranks([0.9, 0.9, 0.5], higher_is_better=True) == [1, 1, 3]
    assert ranks([0.3, 0.1, 0.2], higher_is_better=False) == [3, 1, 2]


def test_the_methods_are_ordered_by_their_mean_rank_with_each_value_ranked(tmp_path):
    for n, method in enumerate(METHODS):
        make_saliency_run(tmp_path / str(n), method)
    ranked = build(tmp_path).sections[0]
    assert ranked.title == "saliency methods ranked"
    assert ranked.metrics.headers == [
        "rank",
        "method",
        "pointing game ↑",
        "deletion AUC ↓",
        "insertion AUC ↑",
        "ROAD MoRF ↓",
        "ROAD LeRF ↑",
        "random logit ↓",
        "sanity check ↓",
        "mean rank",
    ]
    rows = ranked.metrics.rows
    assert [row[:2] for row in rows[:3]] == [["1", "gradient"], ["2", "eigencam"], ["3", "gradcam"]]
    assert rows[0][2:] == [
        "0.900 (1)",
        "0.200 (2)",
        "0.800 (2)",
        "0.300 (1)",
        "0.700 (1)",
        "0.100 (1)",
        "0.300 (1)",
    ] + ["1.29"]
    assert rows[2][-2:] == ["0.400 (2)", "2.43"]
    assert rows[3] == ["", "baseline: centre point, random pixel order", "0.500", "0.450", "0.550", "", "", "", "", ""]
    assert ranked.grids[0].columns == ["gradient", "eigencam", "gradcam"]  # maps in ranked order, one row per image
    assert [(header, [cell.png.name for cell in row]) for header, row in ranked.grids[0].rows] == [
        (image, [f"{image}_{method}.png" for method in ("gradient", "eigencam", "gradcam")]) for image in IMAGES
    ]


def test_the_ranking_is_in_both_report_files_and_absent_for_one_method(tmp_path):
    for n, method in enumerate(METHODS):
        make_saliency_run(tmp_path / "sweep" / str(n), method)
    html, markdown = (path.read_text() for path in write(tmp_path / "sweep"))
    assert "<h2>Metrics: saliency methods ranked</h2>" in html and "<td>0.300 (1)</td>" in html
    assert "| 1 | gradient | 0.900 (1) | 0.200 (2) |" in markdown
    make_saliency_run(tmp_path / "one", "gradcam")
    assert [section.title for section in build(tmp_path / "one").sections] == [""]
