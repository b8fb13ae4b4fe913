"""The grid is laid out by what varies: subjects down the rows, swept keys across, one key wrapped."""

from pathlib import Path

from convis.reporting.grid import cells, layout, layouts, swept
from convis.reporting.runs import Run, parse_overrides


def run(name, overrides=(), results=()):
    return Run(Path(name), name, parse_overrides(list(overrides)), metrics={"results": list(results)})


def inversion(image, layer):
    return {"image": image, "layer": layer, "normalized_error": 0.5, "png": f"images/{image}_{layer}.png"}


def names(grid):
    """The grid as text: row header, then each cell's labels joined."""
    return [(header, [cell and "/".join(cell.labels.values()) for cell in row]) for header, row in grid.rows]


def test_one_run_of_images_by_layers_puts_images_down_and_layers_across():
    one = run(
        "r",
        ["layer=[block1_conv1,block3_conv1]"],
        [inversion(i, layer) for layer in ("block1_conv1", "block3_conv1") for i in ("chelsea", "coffee")],
    )
    grid = layout(cells([one]))
    assert grid.corner == "image \\ layer"
    assert grid.columns == ["block1_conv1", "block3_conv1"]
    assert names(grid) == [
        ("chelsea", ["chelsea/block1_conv1", "chelsea/block3_conv1"]),
        ("coffee", ["coffee/block1_conv1", "coffee/block3_conv1"]),
    ]


def test_a_multirun_over_priors_of_class_models_puts_classes_down_and_priors_across():
    runs = [
        run(
            str(n),
            [f"prior={prior}", "target=[tabby,goldfish]"],
            [{"target": t, "target_logit": 3.0, "png": f"images/{t}.png"} for t in ("tabby", "goldfish")],
        )
        for n, prior in enumerate(["simonyan", "olah", "yosinski"])
    ]
    assert swept(runs) == ["prior"]
    grid = layout(cells(runs))
    assert grid.columns == ["simonyan", "olah", "yosinski"]
    assert [header for header, _ in grid.rows] == ["tabby", "goldfish"]
    assert grid.rows[1][1][2].png == Path("2/images/goldfish.png")


def test_labels_that_follow_from_others_add_no_axis():
    runs = [
        run(
            str(n),
            [f"prior={prior}"],
            [
                {"target": t, "target_index": i, "top_class": f"{prior}-{t}", "png": f"{t}.png"}
                for t, i in (("tabby", 281), ("goldfish", 1))
            ],
        )
        for n, prior in enumerate(["simonyan", "olah"])
    ]
    grid = layout(cells(runs))
    assert grid.corner == "target \\ prior" and grid.columns == ["simonyan", "olah"]
    assert [header for header, _ in grid.rows] == ["tabby", "goldfish"]


def test_two_swept_keys_combine_into_the_column_headers():
    runs = [
        run(f"{c}{s}", [f"objective.feature_weight={c}", f"seed={s}"], [inversion("chelsea", "block1_conv1")])
        for c in (1, 100)
        for s in (0, 1)
    ]
    grid = layout(cells(runs))
    assert grid.corner == "objective.feature_weight \\ seed" and grid.columns == ["0", "1"]
    assert [header for header, _ in grid.rows] == ["1", "100"]


def test_one_swept_key_runs_along_one_row_or_wraps_into_the_3x3_table():
    layers = [f"block{b}_conv{c}" for b in (3, 4, 5) for c in (1, 2, 3)]
    runs = [run(str(n), [f"layer={layer}"], [inversion("chelsea", layer)]) for n, layer in enumerate(layers)]
    flat = layout(cells(runs))
    assert flat.columns == layers and len(flat.rows) == 1 and not flat.row_headers
    table = layout(cells(runs), columns=3)
    assert [[table.caption_of(c) for c in row] for _, row in table.rows] == [layers[0:3], layers[3:6], layers[6:9]]


def test_trials_that_share_no_values_run_along_one_row_headed_by_their_values():
    trials = [("22.881136684755237", "1.3981961408994048"), ("12.13267549104614", "4.734989304499476")]
    runs = [
        run(str(n), [f"objective.feature_weight={c}", f"prior.penalties.0.weight={w}"], [inversion("chelsea", "b1")])
        for n, (c, w) in enumerate(trials)
    ]
    grid = layout(cells(runs))
    assert len(grid.rows) == 1 and grid.columns == [
        "objective.feature_weight=22.88, prior.penalties.0.weight=1.398",
        "objective.feature_weight=12.13, prior.penalties.0.weight=4.735",
    ]


def test_a_missing_combination_leaves_an_empty_cell():
    one = run("r", [], [inversion("chelsea", "a"), inversion("chelsea", "b"), inversion("coffee", "a")])
    assert names(layout(cells([one])))[1] == ("coffee", ["coffee/a", None])


def test_results_without_a_picture_are_not_in_the_grid():
    one = run("r", [], [{"image": "chelsea", "normalized_error": 0.1}])
    assert layout(cells([one])).rows == []


def concept_results():
    """objective=concepts' kinds: a heatmap per image and rank (captioned), a strip per channel and view."""
    heatmaps = [
        {"image": i, "target": t, "rank": r, "channel": c, "png": f"{i}_{c}.png", "caption": f"channel {c}"}
        for i, t, channels in (("disc0", 0, (19, 9)), ("square1", 1, (16, 19)))
        for r, c in enumerate(channels)
    ]
    strips = [{"channel": c, "view": v, "png": f"{c}_{v}.png"} for c in (9, 16, 19) for v in ("relevant", "active")]
    return heatmaps + strips


def test_each_kind_of_picture_gets_its_own_grid_and_a_results_caption_shows_under_it():
    heatmaps, strips = layouts(cells([run("r", [], concept_results())]))
    assert heatmaps.corner == "image, target \\ rank" and heatmaps.columns == ["0", "1"]
    assert [header for header, _ in heatmaps.rows] == ["image=disc0, target=0", "image=square1, target=1"]
    assert [heatmaps.caption_of(cell) for _, row in heatmaps.rows for cell in row] == [
        "channel 19",
        "channel 9",
        "channel 16",
        "channel 19",
    ]
    assert heatmaps.captioned and "caption" not in heatmaps.rows[0][1][0].labels
    assert strips.corner == "channel \\ view" and strips.columns == ["relevant", "active"]
    assert [header for header, _ in strips.rows] == ["9", "16", "19"] and not strips.captioned


def test_a_target_beside_the_image_is_an_axis_where_an_image_has_several():
    results = [{"image": i, "target": t, "png": f"{i}_{t}.png"} for i in ("cat", "dog") for t in ("tabby", "pug")]
    grid = layout(cells([run("r", [], results)]))
    assert grid.corner == "image \\ target" and grid.columns == ["tabby", "pug"]


def test_the_class_predicted_for_each_image_joins_its_row_header_and_the_methods_go_across():
    runs = [
        run(
            m, [f"method={m}"], [{"image": i, "target": t, "png": f"{i}.png"} for i, t in (("a", "disc"), ("b", "pug"))]
        )
        for m in ("gradient", "gradcam")
    ]
    grid = layout(cells(runs))
    assert grid.corner == "image, target \\ method" and grid.columns == ["gradient", "gradcam"]
    assert [header for header, _ in grid.rows] == ["image=a, target=disc", "image=b, target=pug"]
