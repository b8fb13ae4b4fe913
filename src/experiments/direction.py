"""The image that aligns a layer's activations with a direction: a vector from a file, or a class's mean activation."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch.utils.data import Dataset

from convis.backbones import Backbone, FeatureExtractor
from convis.checks import Rule, as_list, number, positive
from convis.experiments.synthesis import Plan, Synthesis
from convis.experiments.visualise import Recipe
from convis.experiments.writer import Pictures
from convis.modules.visualisation import Group
from convis.objectives.directions import direction
from convis.params.arrays import read_numbers
from convis.runtime.errors import ConvisError, unknown
from convis.runtime.finite import FROM_INPUTS, require_finite

CLASS_MEAN = "class_mean:"
BATCH = 32  # images per forward pass when averaging a class's activations


def channel_means(extractor: FeatureExtractor, layer: str, images: torch.Tensor) -> torch.Tensor:
    """[N, C]: each image's activation at `layer` averaged over its positions."""
    with torch.no_grad():
        found = [extractor(batch)[layer] for batch in images.split(BATCH)]
    return torch.cat([a.flatten(2).mean(2) if a.dim() > 2 else a for a in found])


def class_mean(data: Dataset, name: str, extractor: FeatureExtractor, layer: str, count: int) -> torch.Tensor:
    """The mean activation vector at `layer` of the first `count` images of class `name` in a labelled dataset."""
    labels, classes = getattr(data, "labels", None), list(getattr(data, "classes", []))
    if labels is None or not classes:
        raise ConvisError(
            f"objective.direction={CLASS_MEAN}{name} needs a labelled dataset: dataset=shapes, or "
            "dataset=image_folder dataset.root=PATH with a sub-folder per class"
        )
    if name not in classes:
        raise unknown("class_mean class", name, classes)
    label = classes.index(name)
    chosen = [i for i, found in enumerate(labels) if found == label][:count]
    if not chosen:
        raise ConvisError(f"the dataset has no image of class {name}: {CLASS_MEAN}{name} needs some")
    images = torch.stack([data[i]["image"] for i in chosen])
    mean = channel_means(extractor, layer, images).mean(0)
    return require_finite(mean, f"mean activation of class {name} at {layer}", FROM_INPUTS)


def vector_file(path: str) -> torch.Tensor:
    """The direction saved as a .npy array of finite real numbers (any shape, read flat)."""
    wants = f"a .npy vector of finite real numbers, one per channel, or {CLASS_MEAN}CLASS"
    return read_numbers(path, "objective.direction", wants).flatten()


def direction_vector(cfg: DictConfig, data: Dataset | None, extractor: FeatureExtractor, layer: str) -> torch.Tensor:
    """objective.direction at `layer`: a .npy file's vector, or class_mean:CLASS, the class's mean activation."""
    spec = cfg.objective.direction
    if spec.startswith(CLASS_MEAN):
        return class_mean(data, spec.removeprefix(CLASS_MEAN), extractor, layer, int(cfg.objective.class_images))
    return vector_file(spec)


def checked(vector: torch.Tensor, spec: str, layer: str, channels: int) -> torch.Tensor:
    """`vector` if it has one value per channel of `layer` and is not zero."""
    if vector.numel() != channels:
        raise ConvisError(
            f"objective.direction={spec} has {vector.numel()} values and {layer} has {channels} channels: "
            "give one value per channel"
        )
    if not bool(vector.abs().sum() > 0):
        raise ConvisError(f"objective.direction={spec} is the zero vector at {layer}: it points nowhere")
    return vector


def cossim_power(cfg: DictConfig) -> None:
    """Fail on an objective.cossim_pow that is neither null nor a number, 0 or more."""
    Rule("objective.cossim_pow", lambda v: number(v) and v >= 0, "null or a number, 0 or more", "1", True).check(
        "objective.cossim_pow", cfg.objective.get("cossim_pow")
    )


class Direction(Synthesis):
    """One image per layer in `layer`, aligning its activation vectors with objective.direction."""

    def layers(self) -> list[object]:
        return as_list(self.cfg.layer)

    def check(self) -> None:
        super().check()
        positive(self.cfg, "objective.class_images")
        cossim_power(self.cfg)
        spec = self.cfg.objective.get("direction")
        if not isinstance(spec, str) or not spec:
            raise ConvisError(
                f"objective.direction={spec!r}: give a .npy file of one value per channel, or {CLASS_MEAN}CLASS "
                f"(e.g. objective.direction={CLASS_MEAN}square dataset=shapes)"
            )
        if not spec.startswith(CLASS_MEAN):
            vector_file(spec)  # read now, so that a bad file fails before the network is built

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        prior = recipe.prior
        cfg, spec = self.cfg, self.cfg.objective.direction
        data = self.data(backbone) if isinstance(spec, str) and spec.startswith(CLASS_MEAN) else None
        groups, cosines = [], []
        for row, layer in enumerate(as_list(cfg.layer)):
            extractor = backbone.extractor([layer])
            with torch.no_grad():
                probe = extractor(torch.zeros(1, backbone.channels, cfg.image_size, cfg.image_size))[layer]
            vector = checked(direction_vector(cfg, data, extractor, layer), spec, layer, probe.shape[1])
            objective = direction(layer, vector, cfg.objective.cossim_pow)
            groups.append(Group(layer, slice(row, row + 1), extractor, prior.add_to(objective), prior.transforms))
            cosines.append(direction(layer, vector))

        @torch.no_grad()
        def measure(image: torch.Tensor) -> list[dict]:
            """Each image's layer, direction and mean cosine similarity to it over the layer's positions."""
            return [
                {"layer": g.tag, "direction": spec, "cosine": float(-cosine(g.extractor(image[g.rows])))}
                for g, cosine in zip(groups, cosines)
            ]

        return Plan(groups, Pictures([f"{g.tag}_direction" for g in groups]), measure)
