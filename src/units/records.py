"""A unit's record: its examples cropped to its receptive field, and how far to trust its visualisation.

Trust (Geirhos et al. 2023 show a feature visualisation can look convincing and mislead): the visualisation's
activation of its unit (strongest position) against the unit's strongest dataset example's, flagged when
weaker; and its robustness, the share of that activation kept on average under random resized crops
(half the area or more) and horizontal flips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from convis.data.images import denormalise
from convis.metrics.robustness import augmented_copies
from convis.runtime.writers import safe_name, save_image
from convis.units.exemplars import Features, TopK, strongest
from convis.units.receptive import Field

CROP_SCALE = (0.5, 1.0)  # the area kept by the robustness measure's random resized crops


def exemplar_records(
    top: TopK,
    channel: int,
    field: Field,
    picture: Callable[[int], torch.Tensor],
    names: Sequence[str],
    folder: Path,
    root: Path,
) -> list[dict]:
    """The unit's examples (best first), each with its receptive-field crop saved under `folder`."""
    records = []
    for rank, (index, value, (y, x)) in enumerate(top.unit(channel)):
        x0, y0, x1, y1 = field.at(y, x)
        png = save_image(picture(index)[:, y0:y1, x0:x1], folder / f"{rank}.png")
        records.append(
            {
                "image": names[index],
                "index": index,
                "activation": value,
                "position": [y, x] if y >= 0 else None,
                "box": [x0, y0, x1, y1],
                "png": png.relative_to(root).as_posix(),
            }
        )
    return records


def pictures(data: Dataset, mean: Sequence[float], std: Sequence[float]) -> Callable[[int], torch.Tensor]:
    """A dataset image by index as [0, 1] pixels, each read once however many units (of a layer) show it."""
    cache: dict[int, torch.Tensor] = {}

    def picture(index: int) -> torch.Tensor:
        if index not in cache:
            cache[index] = denormalise(data[index]["image"], mean, std).clamp(0, 1)
        return cache[index]

    return picture


def names_of(data: Dataset) -> list[str]:
    """The dataset's image names (safe file stems), or their indices where it has none."""
    names = getattr(data, "names", None)
    return [safe_name(n) for n in names] if names is not None else [f"image{i:06d}" for i in range(len(data))]


def trust(
    features: Features, layer: str, channels: Sequence[int], images: torch.Tensor, tops: Sequence[float], copies: int
) -> list[dict]:
    """Each visualisation's trust record: `images[i]` visualises `channels[i]`, whose strongest example is `tops[i]`."""
    with torch.no_grad():
        values, _ = strongest(features(images)[layer].float())
        own = values[torch.arange(len(channels)), torch.as_tensor(list(channels))]
        records = []
        for image, channel, value, top in zip(images, channels, own.tolist(), tops):
            augmented, _ = strongest(features(augmented_copies(image, copies, CROP_SCALE))[layer].float())
            kept = float(augmented[:, channel].mean())
            records.append(
                {
                    "visualisation_activation": value,
                    "top_example_activation": top,
                    "ratio": value / top if top > 0 else None,
                    "weaker_than_examples": value < top,
                    "robustness": kept / value if value > 0 else 0.0,
                }
            )
    return records
