"""The microscope: every unit of the chosen layers, what it responds to, written as one browsable site.

Per unit: its feature visualisation (a layer atlas's, batched), optionally diverse ones, its k strongest
(and weakest) dataset examples cropped to its receptive field, found in one pass, its Network Dissection
label on a concept dataset, and how far its visualisation can be trusted. Per layer: the inversion of a
few dataset pictures. Each part is written as it finishes (the visualisations in chunks of
`objective.batch_size` units, each a run of its own under microscope/visualisations); `resume=` skips what
is written and continues an interrupted chunk from its checkpoint. Split a network over jobs by `layer` and
`objective.channel`; scripts/report.py merges the jobs' parts into one site.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict
from PIL import Image
from torch.utils.data import Dataset

from convis.backbones import Backbone
from convis.checks import Rule, as_list, count, number, positive_whole
from convis.config import option_node, options
from convis.data.images import image_transform
from convis.experiments.activation import Activation, layer_shapes, plain
from convis.experiments.base import Experiment, Result, build_object
from convis.experiments.inversion import Inversion
from convis.experiments.setup import build_logger
from convis.experiments.writer import weights_of
from convis.objectives.activation import channel_set
from convis.reporting.microscope import write_site
from convis.runtime.errors import ConvisError
from convis.runtime.stops import CHECKPOINTS, LAST
from convis.runtime.writers import safe_name, write_json
from convis.units.dissection import dissect
from convis.units.exemplars import Examples, Features, dataset_pass
from convis.units.parts import SITE
from convis.units.receptive import receptive_field
from convis.units.records import exemplar_records, names_of, pictures, trust

log = logging.getLogger("convis")
INVERSION_RECIPE = {"param": "pixel", "prior": "mahendran", "optimizer": "ijcv"}  # the paper's, whatever `prior=` says

Units = dict[str, dict[int, dict[str, Any]]]  # layer -> channel -> what is known of the unit


class Picked(Dataset):
    """Some of a dataset's items, with their names (what an inversion reads)."""

    def __init__(self, data: Dataset, indices: list[int], names: list[str]) -> None:
        self.data, self.indices, self.names = data, indices, [names[i] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict:
        return {**self.data[self.indices[position]], "name": self.names[position]}


def done(folder: Path) -> dict | None:
    """A finished part's metrics.json, else None."""
    path = folder / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


class Microscope(Experiment):
    """Every unit of `layer` (objective.channel of each): visualisations, examples, labels, trust; a site."""

    built_keys = ("param", "prior", "optimizer")  # the visualisations'
    rules = (
        positive_whole("objective.k", "8"),
        positive_whole("objective.batch_size", "32"),
        positive_whole("objective.data_batch", "64"),
        positive_whole("objective.sample", "1024"),
        positive_whole("objective.robustness_copies", "16"),
        count("objective.diverse", "4"),
        count("objective.inversions", "3"),
        positive_whole("objective.inversion_steps", "350", nullable=True),
        Rule("objective.quantile", lambda v: number(v) and 0 < v < 1, "a number in (0, 1)", "0.005"),
        Rule("objective.iou_threshold", lambda v: number(v) and 0 <= v <= 1, "a number in [0, 1]", "0.04"),
    )

    def layers(self) -> list[object]:
        return as_list(self.cfg.layer)

    def batch(self) -> int:
        return int(self.cfg.objective.batch_size)

    @property
    def resuming(self) -> bool:
        return bool(self.cfg.get("resume"))

    def check(self) -> None:
        super().check()
        for key in self.built_keys:
            self.built(key)  # the visualisations' objects, built now so that a bad one fails before any work
        concepts = self.cfg.objective.concepts
        if isinstance(concepts, str) and concepts not in options("dataset"):
            raise ConvisError(
                f"objective.concepts={concepts} is not a dataset: choose one of {', '.join(options('dataset'))}, "
                "a dataset node with _target_, or null (no labels)"
            )

    def run(self, output_dir: Path) -> Result:
        cfg = self.cfg
        L.seed_everything(cfg.seed, verbose=False)
        backbone = self.backbone()
        data = self.data(backbone)
        root = output_dir / SITE
        features = backbone.extractor(as_list(cfg.layer))
        shapes = layer_shapes(features, backbone.channels, cfg.image_size)
        chosen = {layer: channel_set(layer, shapes[layer][0], plain(cfg.objective.channel)) for layer in shapes}
        units: Units = {layer: {c: {"layer": layer, "channel": c} for c in cs} for layer, cs in chosen.items()}
        counted = ", ".join(f"{len(cs)} of {layer}" for layer, cs in chosen.items())
        log.info(
            "microscope: %s units (%s); examples from %d images, in one pass",
            sum(map(len, chosen.values())),
            counted,
            len(data),
        )
        self.add_examples(units, features, backbone, data, root)
        counts = self.add_labels(units, features, backbone, root)
        for layer, channels in chosen.items():
            self.add_visualisations(units[layer], layer, channels, backbone, features, root)
        inversions = {layer: self.inversions(layer, backbone, data, root) for layer in chosen}
        records = [unit for layer in units.values() for unit in layer.values()]
        layers = [
            {
                "layer": layer,
                "channels": shapes[layer][0],
                "inversions": inversions[layer],
                "label_counts": counts[layer],
            }
            for layer in chosen
        ]
        return self.write(output_dir, root, backbone, records, layers)

    def add_examples(self, units: Units, features: Features, backbone: Backbone, data: Dataset, root: Path) -> None:
        """Each unit's strongest (and weakest) examples, cropped, and its histogram: one pass, kept in examples.json."""
        saved = root / "examples.json"
        if self.resuming and saved.is_file():
            found = json.loads(saved.read_text())
        else:
            spec = self.cfg.objective
            examples = dataset_pass(features, data, spec.k, spec.least, spec.data_batch, spec.sample, self.cfg.seed)
            found = self.crops(examples, units, features, backbone, data, root)
            write_json(found, saved)
        for layer, channels in units.items():
            for channel, unit in channels.items():
                unit.update(found[layer][str(channel)])

    def crops(
        self, examples: Examples, units: Units, features: Features, backbone: Backbone, data: Dataset, root: Path
    ) -> dict[str, dict[str, dict]]:
        """The examples of the chosen units as records, their receptive-field crops saved under exemplars/."""
        names = names_of(data)
        found: dict[str, dict[str, dict]] = {}
        for layer, channels in units.items():
            picture = pictures(data, backbone.mean, backbone.std)  # a layer's images cached: memory holds one layer's
            field = receptive_field(features, layer, backbone.channels, self.cfg.image_size, seed=self.cfg.seed)
            found[layer] = {}
            for channel in channels:
                folder = root / "exemplars" / safe_name(layer) / str(channel)
                top = exemplar_records(examples.top[layer], channel, field, picture, names, folder, root)
                least = (
                    exemplar_records(examples.least[layer], channel, field, picture, names, folder / "least", root)
                    if examples.least
                    else []
                )
                histogram = examples.sample[layer].histogram(channel)
                found[layer][str(channel)] = {"exemplars": top, "least": least, "histogram": histogram}
        return found

    def concept_data(self, backbone: Backbone) -> Dataset | None:
        """The concept dataset labels come from (objective.concepts: a dataset option, a node, or null)."""
        concepts = self.cfg.objective.concepts
        if concepts is None:
            return None
        node = option_node("dataset", concepts) if isinstance(concepts, str) else copy.deepcopy(concepts)
        node = node.dataset if "dataset" in node else node  # an option that also sets image_size, as shapes does
        with open_dict(node):
            node.image_size, node.mean, node.std = int(self.cfg.image_size), list(backbone.mean), list(backbone.std)
            if "seed" in node:
                node.seed = int(self.cfg.seed)
        return build_object(node, "objective.concepts")

    def add_labels(self, units: Units, features: Features, backbone: Backbone, root: Path) -> dict[str, dict]:
        """Each unit's Network Dissection label (null where none passes), per layer the counts by category."""
        saved = root / "labels.json"
        if self.resuming and saved.is_file():
            found = json.loads(saved.read_text())
        else:
            log.info("microscope: Network Dissection labels (objective.concepts=%s)", self.cfg.objective.concepts)
            found = self.dissection(units, features, backbone)
            write_json(found, saved)
        for layer, channels in units.items():
            for channel, unit in channels.items():
                unit["label"] = found[layer]["labels"][channel] if found[layer]["labels"] else None
        return {layer: found[layer]["counts"] for layer in units}

    def dissection(self, units: Units, features: Features, backbone: Backbone) -> dict[str, dict]:
        """Per layer, each unit's label and the counts by category (none where objective.concepts is null)."""
        concepts = self.concept_data(backbone)
        if concepts is None:
            return {layer: {"labels": [], "counts": {}} for layer in units}
        spec = self.cfg.objective
        found = dissect(features, concepts, spec.quantile, spec.iou_threshold, spec.data_batch)
        return {layer: {"labels": found.labels(layer), "counts": found.counts(layer)} for layer in units}

    def part(
        self, objective: str, folder: Path, values: dict[str, Any], recipe: dict[str, str] | None = None
    ) -> DictConfig:
        """A part's config: this run's, with `objective`'s options, `values` set, no logger and its own folder;
        `recipe` names the param, prior and optimizer options it uses instead of the run's."""
        sub = copy.deepcopy(self.cfg)
        steps = int(self.cfg.steps)
        with open_dict(sub):
            sub.objective = option_node("objective", objective)
            for group, name in (recipe or {}).items():
                sub[group] = option_node(group, name)
            sub.logger = option_node("logger", "none")
            sub.output_dir, sub.steps = str(folder), steps
            sub.resume = str(folder) if self.resuming and (folder / CHECKPOINTS / LAST).is_file() else None
        for key, value in values.items():
            OmegaConf.update(sub, key, value, merge=True)
        return sub

    def run_part(
        self, kind: type[Experiment], sub: DictConfig, backbone: Backbone, data: Dataset | None = None, own=False
    ) -> dict:
        """A part's metrics.json: the one written before (resume), else the part's run now. `own`: the part
        uses its own recipe (the run's objects are the visualisations')."""
        folder = Path(sub.output_dir)
        if self.resuming and (metrics := done(folder)) is not None:
            log.info("microscope: %s was written before the resume: kept", folder)
            return metrics
        part = kind(sub, backbone, data, self.given_model, {} if own else self.given_objects)
        part.check()
        return part.run(folder).metrics

    def add_visualisations(
        self, units: dict[int, dict], layer: str, channels: list[int], backbone: Backbone, features: Features, root
    ) -> None:
        """Each unit's visualisation (and diverse ones), `objective.batch_size` units a part, and its trust."""
        size = int(self.cfg.objective.batch_size)
        for start in range(0, len(channels), size):
            batch = channels[start : start + size]
            folder = root / "visualisations" / safe_name(layer) / f"{batch[0]}-{batch[-1]}"
            log.info(
                "microscope: %s units %d-%d of %d: visualisations (%s)",
                layer,
                start,
                start + len(batch) - 1,
                len(channels),
                folder.name,
            )
            values = {"layer": layer, "objective.channel": batch, "objective.batch_size": len(batch)}
            results = self.run_part(Activation, self.part("activation", folder, values), backbone)["results"]
            pngs = [(folder / r["png"]).relative_to(root).as_posix() for r in results]
            images = torch.stack([self.loaded(root / png, backbone) for png in pngs])
            tops = [units[c]["exemplars"][0]["activation"] if units[c]["exemplars"] else 0.0 for c in batch]
            copies = int(self.cfg.objective.robustness_copies)
            for channel, png, measured in zip(batch, pngs, trust(features, layer, batch, images, tops, copies)):
                units[channel].update(visualisation=png, trust=measured, diverse=self.diverse(layer, channel, backbone))

    def loaded(self, path: Path, backbone: Backbone) -> torch.Tensor:
        """A written PNG as the network's input."""
        with Image.open(path) as image:
            return image_transform(self.cfg.image_size, backbone.mean, backbone.std)(image.convert("RGB"))

    def diverse(self, layer: str, channel: int, backbone: Backbone) -> list[str]:
        """`objective.diverse` images of the unit kept apart by the diversity term (none by default)."""
        count_ = int(self.cfg.objective.diverse)
        if count_ == 0:
            return []
        root = Path(self.cfg.output_dir) / SITE
        folder = root / "visualisations" / safe_name(layer) / f"{channel}_diverse"
        values = {"layer": layer, "objective.channel": channel, "objective.batch": count_}
        values["objective.diversity"] = float(self.cfg.objective.diversity)
        results = self.run_part(Activation, self.part("activation", folder, values), backbone)["results"]
        return [(folder / r["png"]).relative_to(root).as_posix() for r in results]

    def inversions(self, layer: str, backbone: Backbone, data: Dataset, root: Path) -> list[dict]:
        """The inversion of `objective.inversions` dataset pictures (spread over it) from `layer`."""
        wanted = min(int(self.cfg.objective.inversions), len(data))
        if wanted == 0:
            return []
        indices = torch.linspace(0, len(data) - 1, wanted).round().long().unique().tolist()
        folder = root / "inversions" / safe_name(layer)
        steps = self.cfg.objective.inversion_steps or option_node("objective", "inversion").steps
        values = {"layer": layer, "steps": int(steps)}
        sub = self.part("inversion", folder, values, INVERSION_RECIPE)
        log.info("microscope: %s: inverting %d dataset pictures (%d steps)", layer, len(indices), values["steps"])
        results = self.run_part(Inversion, sub, backbone, Picked(data, indices, names_of(data)), own=True)["results"]
        return [
            {
                "image": r["image"],
                "original": (folder / "images" / f"{safe_name(r['image'])}_original.png").relative_to(root).as_posix(),
                "png": (folder / r["png"]).relative_to(root).as_posix(),
                "normalized_error": r["normalized_error"],
            }
            for r in results
        ]

    def write(self, output_dir: Path, root: Path, backbone: Backbone, units: list[dict], layers: list[dict]) -> Result:
        """units.json, layers.json, the site and metrics.json (one result per unit)."""
        write_json(units, root / "units.json")
        write_json(layers, root / "layers.json")
        weights = weights_of(self.cfg, self.given_model)
        title = f"Microscope: {backbone.arch} ({weights}), {self.cfg.image_size} px, {self.cfg.steps} steps"
        index = write_site(root, units, layers, title, intro=[summary(units)])
        log.info("microscope: %s; the site: %s", summary(units), index)
        results = [
            {
                "layer": u["layer"],
                "channel": u["channel"],
                "label": (u["label"] or {}).get("concept"),
                "iou": (u["label"] or {}).get("iou"),
                "top_activation": u["exemplars"][0]["activation"] if u["exemplars"] else None,
                **{key: u["trust"][key] for key in ("visualisation_activation", "ratio", "robustness")},
                "png": f"{SITE}/{u['visualisation']}",
            }
            for u in units
        ]
        metrics = {"objective": "microscope", "backbone": backbone.arch, "weights": weights}
        metrics |= {"image_size": int(self.cfg.image_size), "steps": int(self.cfg.steps), "results": results}
        write_json(metrics, output_dir / "metrics.json")
        log_units(build_logger(self.cfg, output_dir), root, units, results)
        return Result(metrics, output_dir)


TABLE = ("layer", "channel", "label", "iou", "top_activation", "visualisation_activation", "ratio", "robustness")


def log_units(logger: Logger | bool, root: Path, units: list[dict], results: list[dict]) -> None:
    """The units to the run's logger: their counts, and for W&B a table with each unit's visualisation."""
    if not logger:
        return
    labelled = sum(1 for u in units if u["label"])
    weaker = sum(1 for u in units if (u.get("trust") or {}).get("weaker_than_examples"))
    logger.log_metrics({"microscope/units": len(units), "microscope/labelled": labelled, "microscope/weaker": weaker})
    if isinstance(logger, WandbLogger):
        import wandb

        rows = [
            [r[key] for key in TABLE] + [wandb.Image(str(root / u["visualisation"]))] for u, r in zip(units, results)
        ]
        logger.log_table("microscope/unit_table", columns=[*TABLE, "visualisation"], data=rows)
    logger.finalize("success")


def summary(units: list[dict]) -> str:
    """One line: units, how many are labelled, and how many visualisations are weaker than real examples."""
    labelled = sum(1 for u in units if u.get("label"))
    weaker = sum(1 for u in units if (u.get("trust") or {}).get("weaker_than_examples"))
    return (
        f"{len(units)} units: {labelled} labelled by Network Dissection; {weaker} visualisations activate their unit "
        "less than its strongest dataset example (marked)."
    )
