"""Activation maximisation: a channel, a neuron, a whole layer (DeepDream), or a weighted sum of such terms."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from convis.backbones import Backbone, FeatureExtractor
from convis.checks import Rule, as_list, number, positive_whole
from convis.experiments.synthesis import Plan, Synthesis
from convis.experiments.visualise import Recipe
from convis.experiments.writer import Pictures
from convis.modules.visualisation import Group
from convis.objectives import Objective
from convis.objectives.activation import (
    activation,
    channel_set,
    channels,
    diversity,
    is_channel_set,
    neuron_position,
)
from convis.priors import Prior
from convis.runtime.errors import ConvisError

TERM_KEYS = ("layer", "channel", "neuron", "weight")


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


def layer_shapes(extractor: FeatureExtractor, channels: int, size: int) -> dict[str, tuple[int, ...]]:
    """Each layer's output shape without the batch dimension ([C] or [C, H, W]), at `size` pixels."""
    with torch.no_grad():
        probed = extractor(torch.zeros(1, channels, size, size))
    return {name: tuple(value.shape[1:]) for name, value in probed.items()}


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
    shapes = layer_shapes(extractor, backbone.channels, cfg.image_size)
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
            activation_result(b, value) for b in built for value in -b.maximised(b.group.extractor(image[b.group.rows]))
        ]

    return Plan([b.group for b in built], Pictures(names), measure)


def plain(value: object) -> object:
    """A config value as plain Python (lists and dicts out of OmegaConf's containers)."""
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def atlas_plan(cfg: DictConfig, backbone: Backbone, prior: Prior) -> Plan:
    """One image per channel of objective.channel (all, a range, a list) of each layer, `objective.batch_size`
    channels to a group: each group one pass through the network, its row i maximising its i-th channel."""
    spec, size = plain(cfg.objective.channel), cfg.objective.batch_size
    if cfg.objective.batch != 1 or cfg.objective.diversity:
        raise ConvisError(
            f"objective.channel={spec} makes one image per channel: leave objective.batch=1 and objective.diversity=0"
        )
    layers = as_list(cfg.layer)
    extractor = backbone.extractor(layers)
    shapes = layer_shapes(extractor, backbone.channels, cfg.image_size)
    groups, maximised, names, entries = [], [], [], []
    for layer in layers:
        neuron = plain(cfg.objective.neuron)
        where = None if neuron is None else neuron_position(layer, shapes[layer], neuron)
        chosen = channel_set(layer, shapes[layer][0], spec)
        for start in range(0, len(chosen), size):
            batch = chosen[start : start + size]
            objective = channels(layer, batch, where)
            rows = slice(len(names), len(names) + len(batch))
            tag = objective.terms[0][1].name
            groups.append(Group(tag, rows, extractor, prior.add_to(objective), prior.transforms))
            maximised.append(objective)
            names += [f"{layer}:{c}" + (f"@{where[0]},{where[1]}" if where else "") for c in batch]
            entries += [{"layer": layer, "channel": c, "neuron": where and list(where)} for c in batch]

    @torch.no_grad()
    def measure(image: torch.Tensor) -> list[dict]:
        values = torch.cat([-objective(extractor(image[g.rows])) for g, objective in zip(groups, maximised)])
        return [{**e, "objective": f"1*{n}", "activation": float(v)} for e, n, v in zip(entries, names, values)]

    return Plan(groups, Pictures(names), measure)


class Activation(Synthesis):
    """`objective.batch` images per activation objective: one per layer in `layer`, or objective.terms."""

    rules = (
        *Synthesis.rules,
        Rule("objective.terms.*.weight", lambda v: number(v) and v != 0, "a non-zero number", "-0.5"),
        Rule("objective.diversity", lambda v: number(v) and v >= 0, "a number, 0 or more", "100"),
        positive_whole("objective.batch", "4"),
        positive_whole("objective.batch_size", "8"),
    )

    def layers(self) -> list[object]:
        terms = as_list(self.cfg.objective.get("terms"))
        named = (
            [t.get("layer") if isinstance(t, DictConfig) else t for t in terms] if terms else as_list(self.cfg.layer)
        )
        return named + as_list(self.cfg.objective.get("diversity_layer"))

    def plan(self, backbone: Backbone, recipe: Recipe) -> Plan:
        if is_channel_set(self.cfg.objective.channel) and self.cfg.objective.terms is None:
            return atlas_plan(self.cfg, backbone, recipe.prior)
        return activation_plan(self.cfg, backbone, recipe.prior)
