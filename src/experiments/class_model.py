"""Images optimised for what a network responds to: a class score (Simonyan et al.) or an activation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.backbones import Backbone
from src.backbones.names import LOGITS
from src.errors import ConvisError
from src.experiments.setup import as_list, configured_backbone, positive
from src.experiments.visualise import initial_image, optimise
from src.modules.visualisation import Group
from src.objectives import Objective
from src.objectives.activation import activation, diversity, neuron_position
from src.objectives.class_score import class_score
from src.outputs import denormalise, safe_name, save_image, write_json
from src.priors import Prior
from src.targets import resolve_targets

TERM_KEYS = ("layer", "channel", "neuron", "weight")


@dataclass
class Plan:
    """What to optimise: the groups, one name per image row, and how to measure the final images."""

    groups: list[Group]
    names: list[str]
    measure: Callable[[torch.Tensor], list[dict]]


def class_plan(cfg: DictConfig, backbone: Backbone, prior: Prior) -> Plan:
    """One image per target, all in one group: image i maximises the score of targets[i]."""
    indices = resolve_targets(as_list(cfg.target), backbone.categories)
    if not indices:
        raise ConvisError("objective=class_score needs a class: target=tabby, target=281 or target=[tabby,goldfish]")
    names = [backbone.categories[i] for i in indices]
    if len(set(indices)) < len(indices):
        raise ConvisError(f"target lists a class twice ({', '.join(names)}): give each class once")
    objective = prior.add_to(class_score(indices, cfg.objective.score))
    group = Group("class_score", slice(0, len(indices)), backbone.extractor([LOGITS]), objective, prior.transforms)

    @torch.no_grad()
    def measure(image: torch.Tensor) -> list[dict]:
        logits = group.extractor(image)[LOGITS]
        probs, top = logits.softmax(1), logits.argmax(1)
        return [
            {
                "target": name,
                "target_index": index,
                "target_logit": float(logits[row, index]),
                "target_prob": float(probs[row, index]),
                "top_class": backbone.categories[int(top[row])],
            }
            for row, (name, index) in enumerate(zip(names, indices))
        ]

    return Plan([group], names, measure)


def term_specs(cfg: DictConfig) -> list[list[dict]]:
    """The activation objectives, each a list of terms: objective.terms as one, else one per layer."""
    spec = cfg.objective
    if spec.terms is None:
        return [[{"layer": layer, "channel": spec.channel, "neuron": spec.neuron}] for layer in as_list(cfg.layer)]
    terms = OmegaConf.to_container(spec.terms)
    for entry in terms:
        if (
            not isinstance(entry, dict)
            or "layer" not in entry
            or set(entry) - set(TERM_KEYS)
            or isinstance(entry.get("weight", 1.0), bool)
            or not isinstance(entry.get("weight", 1.0), (int, float))
        ):
            keys = ", ".join(TERM_KEYS)
            raise ConvisError(f"objective.terms entry {entry!r} is not a term: use the keys {keys} (layer required)")
    return [terms]


def resolved(term: dict, shape: tuple[int, ...]) -> dict:
    """A term with its defaults filled in and its neuron, if any, as [y, x]."""
    neuron = term.get("neuron")
    where = None if neuron is None else list(neuron_position(term["layer"], shape, neuron))
    return {"channel": None, "weight": 1.0, **term, "neuron": where}


@dataclass
class ActivationGroup:
    """A group, its terms (resolved), and their weighted sum without diversity and prior (what is reported)."""

    group: Group
    terms: list[dict]
    maximised: Objective


def activation_group(
    cfg: DictConfig, backbone: Backbone, prior: Prior, terms: list[dict], rows: slice
) -> ActivationGroup:
    """The group maximising the weighted sum of `terms`, plus the diversity term and the prior."""
    layers = [t["layer"] for t in terms]
    spread = cfg.objective.diversity_layer or layers[0]
    extractor = backbone.extractor(list(dict.fromkeys([*layers, spread])))
    with torch.no_grad():
        probed = extractor(torch.zeros(1, backbone.channels, cfg.image_size, cfg.image_size))
    shapes = {name: tuple(value.shape[1:]) for name, value in probed.items()}
    terms = [resolved(t, shapes[t["layer"]]) for t in terms]
    maximised = sum(t["weight"] * activation(t["layer"], shapes[t["layer"]], t["channel"], t["neuron"]) for t in terms)
    objective = maximised + cfg.objective.diversity * diversity(spread) if cfg.objective.diversity else maximised
    tag = repr(maximised) if len(terms) > 1 else maximised.terms[0][1].name
    return ActivationGroup(Group(tag, rows, extractor, prior.add_to(objective), prior.transforms), terms, maximised)


def activation_result(built: ActivationGroup, value: torch.Tensor) -> dict:
    """One image's entry: a single term's layer, channel and neuron (a sum's layers only), and its value."""
    single = built.terms[0] if len(built.terms) == 1 else {}
    return {
        "layer": "+".join(dict.fromkeys(t["layer"] for t in built.terms)),
        "channel": single.get("channel"),
        "neuron": single.get("neuron"),
        "objective": repr(built.maximised),
        "activation": float(value),
    }


def activation_plan(cfg: DictConfig, backbone: Backbone, prior: Prior) -> Plan:
    """`objective.batch` images per activation objective, one group each."""
    batch = cfg.objective.batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise ConvisError(f"objective.batch={batch!r} must be a positive whole number, e.g. objective.batch=4")
    if cfg.objective.diversity and batch < 2:
        raise ConvisError("objective.diversity compares the images of a batch: set objective.batch=2 or more")
    built = [
        activation_group(cfg, backbone, prior, terms, slice(k * batch, (k + 1) * batch))
        for k, terms in enumerate(term_specs(cfg))
    ]
    names = [f"{b.group.tag}_{i}" if batch > 1 else b.group.tag for b in built for i in range(batch)]

    @torch.no_grad()
    def measure(image: torch.Tensor) -> list[dict]:
        return [
            activation_result(b, value)
            for b in built
            for value in -b.maximised(b.group.extractor(image[b.group.rows]))
        ]

    return Plan([b.group for b in built], names, measure)


PLANS: dict[str, Callable[[DictConfig, Backbone, Prior], Plan]] = {
    "class_score": class_plan,
    "activation": activation_plan,
}


def run(cfg: DictConfig, output_dir: Path) -> dict:
    """Optimise one image per class target or per activation objective; write the images and metrics."""
    positive(cfg, "steps", "image_size")
    L.seed_everything(cfg.seed, verbose=False)
    backbone = configured_backbone(cfg)
    prior: Prior = instantiate(cfg.prior)
    plan = PLANS[cfg.objective.name](cfg, backbone, prior)
    shape = (len(plan.names), backbone.channels, cfg.image_size, cfg.image_size)
    init = initial_image(cfg.objective.init, shape, cfg.objective.init_scale)
    module = optimise(cfg, backbone, init, plan.groups, prior, plan.names, output_dir)
    image, _ = module.evaluate()
    results = plan.measure(image)
    for result, name, picture in zip(results, plan.names, denormalise(image, backbone.mean, backbone.std)):
        png = save_image(picture, output_dir / "images" / f"{safe_name(name)}.png")
        result["png"] = str(png.relative_to(output_dir))
    metrics = {"objective": cfg.objective.name, "backbone": backbone.arch, "results": results}
    write_json(metrics, output_dir / "metrics.json")
    return metrics
