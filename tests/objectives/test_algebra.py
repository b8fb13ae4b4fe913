"""The objective algebra: a composed objective is the weighted sum of its parts."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convis.objectives import INPUT, Objective, term

weights = st.floats(min_value=-10, max_value=10, allow_nan=False)


def parts() -> tuple[Objective, Objective, dict]:
    acts = {INPUT: torch.randn(3, 3, 4, 4), "a": torch.randn(3, 5)}
    mean = term("mean", lambda a: a[INPUT].flatten(1).mean(1))
    first = term("first", lambda a: a["a"][:, 0], ("a",))
    return mean, first, acts


@settings(max_examples=50, deadline=None)
@given(wa=weights, wb=weights)
def test_weighted_sum_equals_sum_of_weighted_parts(wa, wb):
    mean, first, acts = parts()
    combined = wa * mean - wb * first
    torch.testing.assert_close(combined(acts), wa * mean(acts) - wb * first(acts))
    assert set(combined.breakdown(acts)) == {"mean", "first"}


@settings(max_examples=30, deadline=None)
@given(w=weights)
def test_scaling_commutes_and_negation_is_times_minus_one(w):
    mean, _, acts = parts()
    torch.testing.assert_close((w * mean)(acts), (mean * w)(acts))
    torch.testing.assert_close((-mean)(acts), -1 * mean(acts))


def test_sum_builtin_layers_and_repeated_names():
    mean, first, acts = parts()
    total = sum([mean, first, mean])
    assert total.layers == ("a",)
    assert list(total.breakdown(acts)) == ["mean", "first", "mean#2"]
    torch.testing.assert_close(total(acts), 2 * mean(acts) + first(acts))


def test_non_numbers_do_not_compose():
    mean, _, _ = parts()
    with pytest.raises(TypeError):
        mean * "2"
    with pytest.raises(TypeError):
        mean + 1
