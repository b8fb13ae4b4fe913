"""The dataset pass: planted units' strongest examples are the images a direct computation ranks first (and
the red one is labelled red), in one streaming pass whose answer does not depend on the batch size; receptive
fields of known networks."""

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d
from torch import nn

from convis.backbones.extractor import FeatureExtractor
from convis.data.concepts import concepts
from convis.data.shapes import shapes
from convis.units.dissection import dissect
from convis.units.exemplars import Reservoir, TopK, dataset_pass, strongest
from convis.units.receptive import receptive_field

EDGE = np.array([[-1.0, 0.0, 1.0]] * 3)  # dark left, bright right: a vertical edge


def planted() -> FeatureExtractor:
    """Channel 0 answers red (R - G - B), channel 1 a vertical edge in the grey image."""
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=0, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].weight[0, :, 1, 1] = torch.tensor([1.0, -1.0, -1.0])
        net[0].weight[1] = torch.from_numpy(EDGE).float() / 3
    return FeatureExtractor(net, {"units": "1"})


def data():
    return shapes(size=48, image_size=32, mean=(0.0,) * 3, std=(1.0,) * 3)


def direct_scores(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each image's strongest redness and vertical-edge response, computed on its pixels with NumPy."""
    red, edge = [], []
    for i in range(len(dataset)):
        pixels = dataset[i]["image"].numpy().astype(np.float64)
        red.append(np.maximum(pixels[0] - pixels[1] - pixels[2], 0)[1:-1, 1:-1].max())
        grey = pixels.mean(axis=0)
        edge.append(np.maximum(correlate2d(grey, EDGE, mode="valid"), 0).max())
    return np.array(red), np.array(edge)


def test_planted_units_top_examples_are_the_reddest_and_most_vertical_edged_images():
    dataset = data()
    found = dataset_pass(planted(), dataset, k=5, least=True, batch_size=7)
    red, edge = direct_scores(dataset)
    top = found.top["units"]
    assert [i for i, _, _ in top.unit(0)] == list(np.argsort(-red)[:5])
    assert [i for i, _, _ in top.unit(1)] == list(np.argsort(-edge)[:5])
    assert np.allclose([v for _, v, _ in top.unit(1)], np.sort(edge)[::-1][:5], atol=1e-5)
    assert [i for i, _, _ in found.least["units"].unit(1)][0] == int(np.argmin(edge))
    assert found.images == len(dataset)
    labels = dissect(planted(), concepts(size=60, image_size=32, mean=(0.0,) * 3, std=(1.0,) * 3)).labels("units")
    assert labels[0]["concept"] == "red"


def test_the_pass_is_the_same_whatever_the_batch_size():
    dataset = data()
    one, other = (dataset_pass(planted(), dataset, k=4, batch_size=b) for b in (5, 48))
    assert torch.equal(one.top["units"].images, other.top["units"].images)
    assert torch.equal(one.top["units"].positions, other.top["units"].positions)


def test_the_strongest_position_is_where_the_maximum_is():
    activation = torch.zeros(1, 2, 4, 5)
    activation[0, 1, 3, 2] = 7.0
    values, positions = strongest(activation)
    assert values[0, 1] == 7.0 and positions[0, 1].tolist() == [3, 2]


def test_fewer_images_than_k_keep_only_what_was_seen():
    top = TopK.empty(channels=1, k=4)
    top.add(torch.tensor([[2.0], [5.0]]), torch.zeros(2, 1, 2, dtype=torch.long), torch.tensor([10, 11]))
    assert [(i, v) for i, v, _ in top.unit(0)] == [(11, 5.0), (10, 2.0)]


def test_the_reservoir_keeps_a_uniform_sample_of_bounded_size():
    sample = Reservoir.empty(channels=1, size=100, seed=0)
    sample.add(torch.arange(10_000, dtype=torch.float32)[:, None])
    assert sample.values.shape == (100, 1) and sample.seen == 10_000
    assert 3_000 < float(sample.values.mean()) < 7_000  # a uniform sample of 0..9999, not the first 100
    histogram = sample.histogram(0, bins=10)
    assert sum(histogram["counts"]) == 100 and len(histogram["edges"]) == 11


@pytest.mark.parametrize(("stride", "size"), [(1, 5), (2, 7)])
def test_receptive_field_of_two_3x3_convolutions(stride, size):
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, stride=stride), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    features = FeatureExtractor(net, {"out": "2"})
    field = receptive_field(features, "out", channels=3, size=32)
    x0, y0, x1, y1 = field.box
    assert (x1 - x0, y1 - y0) == (size, size)
    assert field.at(*field.centre) == field.box
    moved = field.at(field.centre[0], field.centre[1] + 1)
    assert moved[0] - x0 == stride  # one position right is one stride right
    assert field.at(0, 0)[:2] == (0, 0)  # clipped at the image's corner
