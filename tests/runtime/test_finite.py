"""NaN and Inf are named as what they are, counted, and never pass as a result."""

import math

import pytest
import torch

from convis.runtime.errors import ConvisError, NonFiniteLoss
from convis.runtime.finite import (
    non_finite,
    require_finite,
    require_finite_results,
    require_finite_rows,
    require_finite_weights,
)

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([1.0, 2.0], None),
        ([NAN, 1.0, NAN], "NaN (2 of 3 values)"),
        ([INF, 0.0], "Inf (1 of 2 values)"),
        ([-INF, 0.0, 0.0, 0.0], "-Inf (1 of 4 values)"),
        ([NAN, INF, -INF, 0.0], "NaN and Inf and -Inf (3 of 4 values)"),
    ],
)
def test_non_finite_names_each_kind_and_counts_the_values(values, shown):
    assert non_finite(torch.tensor(values)) == shown


def test_integers_and_shapes_without_numbers_are_finite():
    assert non_finite(torch.arange(4)) is None
    assert non_finite(torch.empty(3, device="meta")) is None


def test_require_finite_passes_finite_values_through_and_names_the_rest():
    values = torch.ones(3)
    assert require_finite(values, "logits", "advice") is values
    with pytest.raises(ConvisError, match=r"^non-finite logits: Inf \(1 of 3 values\); advice$"):
        require_finite(torch.tensor([1.0, INF, 2.0]), "logits", "advice")


def test_rows_name_the_first_image_that_is_not_finite():
    maps = torch.zeros(3, 2, 2)
    maps[1, 0, 0], maps[2] = -INF, NAN
    with pytest.raises(ConvisError, match=r"^non-finite map of cat: -Inf \(1 of 4 values\); why$"):
        require_finite_rows(maps, ["dog", "cat", "cow"], "map", "why")


def test_weights_name_the_tensor_and_the_source():
    state = {"a.weight": torch.zeros(2), "b.bias": torch.tensor([0.0, NAN]), "c": torch.tensor([INF])}
    with pytest.raises(ConvisError) as info:
        require_finite_weights(state, "weights file w.pt")
    assert str(info.value).startswith("weights file w.pt holds non-finite weights: b.bias has NaN (1 of 2 values);")
    require_finite_weights({"n": torch.tensor([3])}, "x")  # integer buffers (BatchNorm's counter) pass


def test_results_name_the_result_and_the_key_and_skip_other_values():
    ok = {"image": "cat", "layer": "conv2", "psnr": 10.0, "png": "images/cat.png", "hit": True}
    require_finite_results([ok], "advice")
    with pytest.raises(ConvisError, match=r"^non-finite ssim of dog, conv2: -Inf; advice$"):
        require_finite_results([ok, {"image": "dog", "layer": "conv2", "ssim": -math.inf}], "advice")


def test_a_loss_that_is_not_finite_at_the_first_step_does_not_blame_the_learning_rate():
    first = str(NonFiniteLoss("g/feature", 1, INF))
    assert first.startswith("loss term g/feature became Inf at step 1;")
    assert "the learning rate is not the cause" in first and "lower the learning rate" not in first
    later = str(NonFiniteLoss("g/feature", 7, NAN))
    assert later.startswith("loss term g/feature became NaN at step 7;") and "lower the learning rate" in later
    assert str(NonFiniteLoss("g/feature", 3, -INF)).startswith("loss term g/feature became -Inf at step 3;")


def test_an_unbounded_metric_may_be_plus_inf_but_not_nan():
    exact = {"image": "cat", "layer": "conv2", "psnr": math.inf}
    require_finite_results([exact], "advice", unbounded=("psnr",))
    with pytest.raises(ConvisError, match="^non-finite psnr of cat, conv2: Inf;"):
        require_finite_results([exact], "advice")
    with pytest.raises(ConvisError, match="^non-finite psnr of cat: NaN;"):
        require_finite_results([{"image": "cat", "psnr": math.nan}], "advice", unbounded=("psnr",))
