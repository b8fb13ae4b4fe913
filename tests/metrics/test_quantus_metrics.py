"""The Quantus-backed metrics: the numbers are Quantus's own on the same inputs, seeded, named, directed."""

from collections import OrderedDict

import numpy as np
import pytest
import quantus
import torch
from torch import nn

from convis.attribution.gradient import gradient
from convis.backbones import Backbone
from convis.metrics.quantus_metrics import QuantusMetrics, explainer, metric_names
from convis.runtime.errors import ConvisError

SIZE = 16
pytestmark = pytest.mark.filterwarnings("ignore")
OPTIONS = {  # few samples: the numbers, not their quality, are under test
    "FaithfulnessCorrelation": {"nr_runs": 10, "subset_size": 16},
    "MaxSensitivity": {"nr_samples": 3},
    "LocalLipschitzEstimate": {"nr_samples": 3},
    "Sparseness": {},
    "Complexity": {},
    "EfficientMPRT": {},
}
DIRECTIONS = {  # Quantus's score_direction
    "FaithfulnessCorrelation": True,
    "MaxSensitivity": False,
    "LocalLipschitzEstimate": False,
    "Sparseness": True,
    "Complexity": False,
    "EfficientMPRT": True,
}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    chain = OrderedDict(
        features=features, pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), classifier=nn.Linear(8, 3)
    )
    net = nn.Sequential(chain).eval().requires_grad_(False)
    backbone = Backbone(arch="tiny", net=net, names={}, mean=(0.5,) * 3, std=(0.25,) * 3, categories=[])
    build = lambda model: gradient(model, backbone, SIZE)  # noqa: E731
    images, targets = (
        torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)),
        torch.tensor([0, 1, 2, 0]),
    )
    return net, build, images, targets, build(net).attribute(images, targets)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_each_metric_is_quantus_called_directly_on_the_same_inputs_and_seed(setup, name):
    net, build, images, targets, maps = setup
    metrics = QuantusMetrics({name: OPTIONS[name]}, seed=7)
    ours = metrics(net, build, images, targets, maps, batch_idx=2)[name]
    np.random.seed(9)  # the run's seed + the batch
    torch.manual_seed(9)
    metric = getattr(quantus, name)(**OPTIONS[name], disable_warnings=True, return_aggregate=False)  # per image
    theirs = metric(
        model=net,
        x_batch=images.numpy(),
        y_batch=targets.numpy(),
        a_batch=maps[:, None].numpy(),
        explain_func=explainer(build),
        device="cpu",
    )
    assert ours.shape == (4,) and torch.isfinite(ours).all()
    torch.testing.assert_close(ours, torch.tensor(np.asarray(theirs, dtype=np.float64)).float())
    assert metrics.directions() == {name: DIRECTIONS[name]}


def test_the_noise_is_seeded_by_the_run_and_the_batch_and_leaves_the_global_generators_alone(setup):
    net, build, images, targets, maps = setup
    metrics = QuantusMetrics({"FaithfulnessCorrelation": OPTIONS["FaithfulnessCorrelation"]}, seed=0)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first, again = (metrics(net, build, images, targets, maps)["FaithfulnessCorrelation"] for _ in range(2))
    other = metrics(net, build, images, targets, maps, batch_idx=1)["FaithfulnessCorrelation"]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert np.array_equal(np.random.get_state()[1], before)


def test_the_explainer_is_the_runs_method_on_the_model_quantus_hands_it(setup):
    net, build, images, targets, maps = setup
    explained = explainer(build)(net, images.numpy(), targets.numpy())
    assert explained.shape == (4, 1, SIZE, SIZE) and np.allclose(explained[:, 0], maps.numpy())


def test_an_unknown_metric_names_the_valid_ones():
    with pytest.raises(
        ConvisError, match=r"^objective.quantus.Sparsity: unknown Quantus metric; valid: AUC, .*Sparseness"
    ) as error:
        QuantusMetrics({"Sparsity": {}})
    assert "\n" not in str(error.value) and "FaithfulnessCorrelation" in metric_names()


def test_a_bad_option_and_a_bad_shape_fail_in_one_line():
    with pytest.raises(ConvisError, match=r"^objective.quantus.Sparseness=\{'bogus': 1\}: "):
        QuantusMetrics({"Sparseness": {"bogus": 1}})
    with pytest.raises(ConvisError, match=r"^objective.quantus='Sparseness': give Quantus class names"):
        QuantusMetrics("Sparseness")
    assert not QuantusMetrics({}) and not QuantusMetrics(None)


def test_maps_quantus_refuses_score_nan_with_a_warning(setup, caplog):
    net, build, images, targets, maps = setup
    metrics = QuantusMetrics({"Sparseness": {}})
    for refused in (-maps - 1, torch.zeros_like(maps), torch.full_like(maps, 0.3)):  # all negative, zero, one value
        with caplog.at_level("WARNING"):
            scored = metrics(net, build, images, targets, refused, batch_idx=3)["Sparseness"]
        assert scored.shape == (4,) and scored.isnan().all()
        assert "objective.quantus.Sparseness: Quantus refuses batch 3's maps" in caplog.text
    assert torch.isfinite(metrics(net, build, images, targets, maps)["Sparseness"]).all()
