"""Loss curves: one chart per term, one line per run and group, the repeated total left out."""

from pathlib import Path

from convis.reporting.curves import charts, run_series
from convis.reporting.runs import Run


def history(columns, rows):
    return [dict(zip(["step", *columns], map(str, [step, *values]))) for step, *values in rows]


def test_each_term_gets_a_line_per_group_and_the_total_only_beside_several_groups():
    one = Run(Path("a"), "a", history=history(["g/tv", "g/loss", "loss"], [(1, 2.0, 3.0, 3.0), (2, 1.0, 2.0, 2.0)]))
    assert run_series(one, "") == {"tv": [("g", [1.0, 2.0], [2.0, 1.0])], "loss": [("g", [1.0, 2.0], [3.0, 2.0])]}
    two = Run(Path("b"), "b", history=history(["g/loss", "h/loss", "loss"], [(1, 1.0, 2.0, 3.0)]))
    assert [name for name, _, _ in run_series(two, "seed=1")["loss"]] == ["seed=1 · g", "seed=1 · h", "seed=1 · total"]


def test_charts_are_svg_with_the_total_loss_first_and_a_linear_axis_for_negative_losses():
    runs = [
        Run(Path("a"), "a", history=history(["g/logit", "g/loss"], [(1, -1.0, -1.0), (2, -3.0, -3.0)])),
        Run(Path("b"), "b", history=history(["g/logit", "g/loss"], [(1, -2.0, -2.0), (2, -4.0, -4.0)])),
    ]
    made = charts(runs, {"a": "prior=olah", "b": "prior=simonyan"})
    assert [chart.term for chart in made] == ["loss", "logit"]
    svg = made[0].svg.decode()
    assert svg.startswith("<?xml") and "prior=olah · g" in svg and "prior=simonyan · g" in svg
    assert "10^{" not in svg and "−4" in svg  # linear ticks: negative values cannot go on a log axis
