"""Network Dissection: thresholds and IoUs as the definitions give them, and planted colour units found."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from convis.backbones.extractor import FeatureExtractor
from convis.data.concepts import concepts
from convis.runtime.errors import ConvisError
from convis.units.dissection import dissect


class Fixed(Dataset):
    """Images that only carry their index (pixel [0, 0, 0]), with given masks and concept names."""

    def __init__(self, masks: np.ndarray, concepts: list[str], categories: list[str]) -> None:
        self.masks, self.concepts, self.categories = torch.from_numpy(masks), concepts, categories

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: int) -> dict:
        return {"image": torch.full((1, 2, 2), float(index)), "masks": self.masks[index]}


def fixed_features(maps: np.ndarray):
    """A `features` returning {"layer": maps[i]} for the images of index i."""
    return lambda images: {"layer": torch.from_numpy(maps)[images[:, 0, 0, 0].long()]}


def test_one_unit_by_hand():
    # values 1..8 on two 2 x 2 maps; quantile 0.25 of 8 values: m = 2 above T, T = the 3rd largest = 6
    maps = np.arange(1, 9, dtype=np.float32).reshape(2, 1, 2, 2)
    masks = np.zeros((2, 2, 2, 2), dtype=bool)
    masks[1, 0, 0, :] = True  # concept a: the pixels valued 5 and 6
    masks[1, 1, 1, :] = True  # concept b: 7 and 8, exactly the unit's mask {7, 8}
    result = dissect(fixed_features(maps), Fixed(masks, ["a", "b"], ["x", "y"]), quantile=0.25, batch_size=1)
    assert result.thresholds["layer"].tolist() == [6.0]
    torch.testing.assert_close(result.iou["layer"], torch.tensor([[0.0, 1.0]]))
    assert result.labels("layer") == [{"concept": "b", "category": "y", "iou": 1.0}]
    assert result.counts("layer") == {"x": 0, "y": 1}


def _bilinear(image: np.ndarray, factor: int) -> np.ndarray:
    """Upsample an (h, w) map by `factor` with pixel-centre (align_corners=False) bilinear weights, edges clamped."""

    def weights(n: int) -> np.ndarray:
        source = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n - 1)
        matrix = np.zeros((n * factor, n))
        np.add.at(matrix, (np.arange(n * factor), low), 1 - (source - low))
        np.add.at(matrix, (np.arange(n * factor), high), source - low)
        return matrix

    return weights(image.shape[0]) @ image @ weights(image.shape[1]).T


def test_thresholds_and_ious_match_a_direct_computation():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(5, 3, 4, 4)).astype(np.float32)
    masks = rng.uniform(size=(5, 4, 8, 8)) < 0.3
    data = Fixed(masks, ["a", "b", "c", "d"], ["x", "x", "y", "y"])
    result = dissect(fixed_features(maps), data, quantile=0.1, threshold=0.0, batch_size=2)
    for unit in range(3):
        values = maps[:, unit].ravel()  # 80 values, 8 of them above the threshold
        threshold = np.sort(values)[::-1][8]
        assert threshold == np.quantile(values, 0.9, method="lower") == result.thresholds["layer"][unit].item()
        fired = np.stack([_bilinear(image, 2) > threshold for image in maps[:, unit]])
        for concept in range(4):
            both, either = fired & masks[:, concept], fired | masks[:, concept]
            assert result.iou["layer"][unit, concept].item() == pytest.approx(both.sum() / either.sum(), abs=1e-6)


def test_a_dead_unit_masks_nothing_and_gets_no_label():
    maps = np.zeros((2, 1, 2, 2), dtype=np.float32)
    masks = np.ones((2, 1, 2, 2), dtype=bool)
    result = dissect(fixed_features(maps), Fixed(masks, ["everything"], ["x"]), threshold=0.0)
    assert result.iou["layer"].tolist() == [[0.0]] and result.counts("layer") == {"x": 1}
    assert dissect(fixed_features(maps), Fixed(masks, ["everything"], ["x"])).labels("layer") == [None]


def test_planted_red_and_blue_units_are_labelled_so():
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1, -1], [-1, -1, 1], [0, 0, 0]])[:, :, None, None])
        conv.bias.zero_()  # channel 2 is 0 everywhere: it responds to nothing
    extractor = FeatureExtractor(nn.Sequential(conv, nn.ReLU()), {"relu": "1"})
    data = concepts(size=60, image_size=32, mean=(0.0,) * 3, std=(1.0,) * 3)
    result = dissect(extractor, data)
    labels = result.labels("relu")
    assert labels[0]["concept"] == "red" and labels[1]["concept"] == "blue" and labels[2] is None
    for unit in (0, 1):  # clearly: at least twice any other concept's IoU
        second = result.iou["relu"][unit].sort(descending=True).values[1]
        assert labels[unit]["category"] == "colour" and labels[unit]["iou"] > max(0.1, 2 * second)
    assert result.counts("relu") == {"colour": 2, "shape": 0, "texture": 0}
    assert result.thresholds["relu"].shape == (3,) and result.iou["relu"].shape == (3, len(data.concepts))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"quantile": 2}, r"microscope.quantile=2 must be in \(0, 1\), e.g. 0.005"),
        ({"quantile": 0}, r"microscope.quantile=0 must be in \(0, 1\)"),
        ({"threshold": -0.1}, r"microscope.threshold=-0.1 must be in \[0, 1\], e.g. 0.04"),
        ({"threshold": "high"}, r"microscope.threshold='high' must be in \[0, 1\]"),
        ({"batch_size": 0}, r"microscope.batch_size=0 must be a positive whole number"),
    ],
)
def test_bad_options_are_refused_naming_them(option, message):
    data = Fixed(np.zeros((1, 1, 2, 2), dtype=bool), ["a"], ["x"])
    with pytest.raises(ConvisError, match=message):
        dissect(fixed_features(np.zeros((1, 1, 2, 2), dtype=np.float32)), data, **option)


def test_a_layer_without_maps_and_an_unknown_layer_are_refused_naming_them():
    data = Fixed(np.zeros((1, 1, 2, 2), dtype=bool), ["a"], ["x"])
    with pytest.raises(ConvisError, match=r"layer 'fc' outputs shape \(1, 3\), not \[B, C, h, w\]"):
        dissect(lambda images: {"fc": torch.zeros(len(images), 3)}, data)
    result = dissect(fixed_features(np.ones((1, 1, 2, 2), dtype=np.float32)), data)
    with pytest.raises(ConvisError, match="unknown layer=layr .*choose one of layer"):
        result.labels("layr")
