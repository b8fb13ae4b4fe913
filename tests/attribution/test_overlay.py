"""The pictures of saliency: the heatmap blend and the boxes, pixel by pixel."""

import matplotlib
import torch

from convis.attribution.overlay import box_overlay, heatmap, heatmap_overlay


def test_the_heatmap_colours_the_positive_part_scaled_to_its_maximum():
    saliency = torch.tensor([[-1.0, 0.0], [1.0, 2.0]])
    jet = matplotlib.colormaps["jet"]
    expected = torch.tensor([jet(v)[:3] for v in (0.0, 0.0, 0.5, 1.0)], dtype=torch.float).T.reshape(3, 2, 2)
    assert torch.allclose(heatmap(saliency), expected)


def test_the_overlay_is_half_image_half_heatmap():
    image, saliency = torch.rand(3, 4, 4), torch.rand(4, 4)
    assert torch.allclose(heatmap_overlay(image, saliency), (image + heatmap(saliency)) / 2)


def ring(size: int, box: tuple[int, int, int, int], width: int) -> torch.Tensor:
    """The pixels of a `width`-px outline just inside [x0, y0, x1, y1) on a size x size picture."""
    x0, y0, x1, y1 = box
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    mask[y0 + width : y1 - width, x0 + width : x1 - width] = False
    return mask


def test_a_box_outlines_exactly_its_pixels_one_pixel_of_line_per_112_of_the_picture():
    for size, box, width in [(224, (10, 20, 50, 60), 2), (32, (2, 2, 6, 6), 1)]:
        drawn = box_overlay(torch.zeros(3, size, size), [box], ["red"])
        assert drawn.min() >= 0 and drawn.max() <= 1
        red = (drawn[0] == 1) & (drawn[1] == 0) & (drawn[2] == 0)
        assert torch.equal(red, ring(size, box, width)) and torch.equal(drawn[0] > 0, red)
