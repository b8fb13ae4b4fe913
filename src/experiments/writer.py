"""The one writer of an optimised visualisation's results: finite checks, PNGs, metrics.json, the loggers.

Every experiment that optimises an image hands its final images and its measurements here, so that a run
whose optimisation went NaN or Inf never writes a result, and every run's files have the same layout.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from convis.backbones import Backbone
from convis.data.images import denormalise
from convis.experiments.base import Result
from convis.params.maco import transparency_map
from convis.reporting.runs import RANDOM_INIT
from convis.runtime.finite import FROM_STEPS, require_finite_results, require_finite_rows
from convis.runtime.logs import log_images
from convis.runtime.loop import Loop
from convis.runtime.stops import save_final
from convis.runtime.writers import safe_name, save_image, to_pil, write_json

GIVEN = "the given module's own"  # the weights of an nn.Module handed to the Python API, whatever they are


def weights_of(cfg: DictConfig, model: nn.Module | None = None) -> str:
    """The weights a run's network has, as metrics.json records them: a pretrained name (IMAGENET1K_V1), a file,
    RANDOM_INIT, or GIVEN for the `model` a caller handed in."""
    if model is not None:
        return GIVEN
    weights = cfg.backbone.get("weights")
    return RANDOM_INIT if weights is None else str(weights)


@dataclass
class Pictures:
    """What an optimised visualisation shows: one image per row and, beside them, pictures it was made from.

    `stems`: the file name of each row's PNG (default: its name, made safe); `originals` (by file stem): the
    pictures the images reconstruct or start from, in the network's normalised space; `extras` (by file
    stem): further [0, 1] pictures (maps) the results already name.
    """

    names: list[str]
    stems: list[str] = field(default_factory=list)
    originals: dict[str, torch.Tensor] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def stem(self, row: int) -> str:
        return self.stems[row] if self.stems else safe_name(self.names[row])


def measured(
    image: torch.Tensor, pictures: Pictures, measure: Callable[[torch.Tensor], list[dict]], unbounded: Collection[str]
) -> list[dict]:
    """The final images' results, each checked finite (the images first, then every number measured)."""
    require_finite_rows(image, pictures.names, "final image", FROM_STEPS)
    results = measure(image)
    require_finite_results(results, FROM_STEPS, unbounded=unbounded)
    return results


def write_visualisation(
    objective: str,
    backbone: Backbone,
    loop: Loop,
    pictures: Pictures,
    measure: Callable[[torch.Tensor], list[dict]],
    output_dir: Path,
    unbounded: Collection[str] = (),
    weights: str | None = None,
) -> Result:
    """Check, measure and write a finished optimisation: images/*.png, metrics.json, the final images to the
    loggers, then the final checkpoint; the Result holds the tensors (on the CPU) and the pictures in memory.

    metrics.json names the network, its `weights` (weights_of's description, where the caller knows it), the
    image size and the steps the images were optimised for."""
    module = loop.module
    image, _ = module.evaluate()
    results = measured(image, pictures, measure, unbounded)
    shown = denormalise(image, backbone.mean, backbone.std).cpu()
    folder = output_dir / "images"
    for stem, original in pictures.originals.items():
        save_image(denormalise(original, backbone.mean, backbone.std), folder / f"{stem}.png")
    for stem, extra in pictures.extras.items():
        save_image(extra, folder / f"{stem}.png")
    for row, (result, picture) in enumerate(zip(results, shown)):
        result["png"] = str(save_image(picture, folder / f"{pictures.stem(row)}.png").relative_to(output_dir))
    accumulated = getattr(module.param, "transparency", None)
    if accumulated is not None:
        for row, (result, picture) in enumerate(zip(results, transparency_map(accumulated.cpu()))):
            png = save_image(picture, folder / f"{pictures.stem(row)}_transparency.png")
            result["transparency_png"] = str(png.relative_to(output_dir))
    metrics = {"objective": objective, "backbone": backbone.arch, **({"weights": weights} if weights else {})}
    metrics |= {"image_size": int(image.shape[-1]), "steps": loop.step, "results": results}
    write_json(metrics, output_dir / "metrics.json")
    log_images(loop.fabric.loggers, "final", list(shown), step=loop.step, caption=pictures.names)
    save_final(loop)
    tensors = {"images": image.cpu()}
    if pictures.originals:
        tensors["originals"] = torch.stack(list(pictures.originals.values())).cpu()
    return Result(metrics, output_dir, tensors, [to_pil(picture) for picture in shown])
