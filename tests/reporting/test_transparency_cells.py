"""param=maco's transparency maps are pictures of the report beside their images, not labels or metrics."""

from pathlib import Path

from convis.reporting.grid import cells, layout
from convis.reporting.report import metrics_table
from convis.reporting.runs import Run


def test_each_transparency_map_is_a_column_beside_its_image_and_stays_out_of_the_metrics():
    results = [
        {"target": t, "target_prob": 0.5, "png": f"images/{t}.png", "transparency_png": f"images/{t}_transparency.png"}
        for t in ("circle", "square")
    ]
    one = Run(Path("r"), "r", {}, metrics={"results": results})
    grid = layout(cells([one]))
    assert grid.corner == "target \\ view" and grid.columns == ["", "transparency"]
    assert [(header, [cell.png.name for cell in row]) for header, row in grid.rows] == [
        ("circle", ["circle.png", "circle_transparency.png"]),
        ("square", ["square.png", "square_transparency.png"]),
    ]
    table = metrics_table([one])
    assert table.headers == ["target", "target_prob"]
