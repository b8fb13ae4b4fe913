"""Image-specific saliency (Simonyan et al. and the methods beside it), its localisation and its quality."""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf, open_dict

from convis.attribution.gradcam import cam_layer
from convis.backbones import Backbone
from convis.backbones.names import LOGITS
from convis.checks import as_list, positive
from convis.experiments.base import Experiment, Result
from convis.experiments.saliency_writer import SaliencyWriter
from convis.experiments.setup import build_trainer
from convis.experiments.writer import weights_of
from convis.metrics.quantus_metrics import QuantusMetrics
from convis.metrics.saliency import auc, randomisable_layers
from convis.modules.saliency import SaliencyModule, collate
from convis.runtime.distributed import BatchShare
from convis.runtime.errors import ConvisError
from convis.runtime.writers import save_figure, write_json
from convis.targets import resolve_targets


def single_target(target: object, categories: list[str]) -> int | None:
    """The one class every map is for, or None for each image's predicted class."""
    targets = resolve_targets(target, categories)
    if len(targets) > 1:
        raise ConvisError(
            f"target={target}: saliency takes one class for every image, "
            "or target=null for each image's predicted class"
        )
    return targets[0] if targets else None


def measured_depths(layers: list[str], depths: int | None) -> list[str]:
    """The layers after which the sanity check measures: all, or `depths` evenly spaced ones (first and last kept)."""
    if depths is None or depths >= len(layers):
        return layers
    positive({"objective.sanity_depths": depths}, "objective.sanity_depths")
    return [layers[i] for i in sorted(set(np.linspace(0, len(layers) - 1, depths).round().astype(int)))]


def method_name(cfg: DictConfig) -> str:
    """The saliency method's name: its builder's, as `_target_` in conf/method/NAME.yaml names it."""
    return str(cfg.method._target_).rpartition(".")[2]


def read_layer(cfg: DictConfig, backbone: Backbone) -> str | None:
    """The layer a CAM method reads, by its name where it has one (the default it chooses too); None for the
    methods that take no layer."""
    if "layer" not in cfg.method:
        return None
    path = cam_layer(backbone, cfg.image_size, cfg.method.layer)
    return next((name for name, named in backbone.names.items() if named == path), path)


def build_module(cfg: DictConfig, backbone: Backbone) -> SaliencyModule:
    """The predict module of the configured method, target, localisation, evaluation and sanity check."""
    objective = cfg.objective
    method = partial(instantiate(cfg.method), backbone=backbone, image_size=cfg.image_size)
    layers = randomisable_layers(backbone.net) if objective.sanity_check else []
    return SaliencyModule(
        net=backbone.classifier,
        build=method,
        mean=backbone.mean,
        std=backbone.std,
        localiser=instantiate(objective.localisation),
        target=single_target(cfg.target, backbone.categories),
        evaluation=instantiate(objective.evaluation, seed=cfg.seed),
        sanity_layers=layers,
        sanity_measured=measured_depths(layers, objective.sanity_depths),
        seed=cfg.seed,
        random_logit=objective.get("random_logit", False),
        quantus=QuantusMetrics(OmegaConf.to_container(objective, resolve=True).get("quantus"), cfg.seed),
    )


def with_gradients(cfg: DictConfig) -> DictConfig:
    """A copy of `cfg` whose Trainer predicts outside inference mode (Captum needs autograd) and, under DDP,
    leaves the loader's BatchShare sampler in place."""
    copied = copy.deepcopy(cfg)
    with open_dict(copied):
        copied.trainer.inference_mode = False
        copied.trainer.use_distributed_sampler = False
    return copied


class Saliency(Experiment):
    """Maps of the configured method (`method=NAME`), GrabCut boxes and, where the dataset has boxes, their quality."""

    targeted = True
    optimised = False

    def layers(self) -> list[object]:
        return [LOGITS, *as_list(self.cfg.method.get("layer"))]

    def check(self) -> None:
        super().check()
        positive(self.cfg, "objective.batch_size")

    def run(self, output_dir: Path) -> Result:
        cfg = self.cfg
        L.seed_everything(cfg.seed, verbose=False)
        backbone = self.backbone()
        module = build_module(cfg, backbone)
        data = self.data(backbone)
        size = cfg.objective.batch_size
        loader = torch.utils.data.DataLoader(data, size, sampler=BatchShare(len(data), size), collate_fn=collate)
        name = method_name(cfg)
        writer = SaliencyWriter(output_dir, name, backbone.mean, backbone.std, backbone.categories)
        trainer = build_trainer(with_gradients(cfg), -1, output_dir, [writer])
        trainer.predict(module, loader, return_predictions=False)
        if not trainer.is_global_zero:  # another process of a DDP run: the first one writes what all found
            return Result({"results": writer.results}, output_dir)
        metrics = {"objective": "saliency", "backbone": backbone.arch, "weights": weights_of(cfg, self.given_model)}
        metrics |= {"image_size": cfg.image_size, "method": name}
        if (layer := read_layer(cfg, backbone)) is not None:
            metrics["layer"] = layer
        metrics["results"] = writer.results
        if module.quantus:
            metrics["quantus"] = {name: {"higher_is_better": up} for name, up in module.quantus.directions().items()}
        if summary := summarise(writer.results, tuple(module.quantus.metrics)):
            metrics["summary"] = summary
        if writer.curves:
            metrics["curves"] = {key: torch.cat(parts).mean(0).tolist() for key, parts in writer.curves.items()}
            metrics["curves_png"] = "images/perturbation_curves.png"
            plot_curves(metrics["curves"], name, output_dir / metrics["curves_png"])
        if writer.sanity:
            metrics["sanity_check"] = sanity_rows(writer.sanity)
            metrics["sanity_check_png"] = "images/sanity_check.png"
            plot_sanity(metrics["sanity_check"], name, output_dir / metrics["sanity_check_png"])
        log_run(trainer, metrics, output_dir)
        write_json(metrics, output_dir / "metrics.json")
        return Result(metrics, output_dir, {"maps": torch.stack(writer.maps) if writer.maps else torch.empty(0)})


METRICS = (
    "pointing_game",
    "pointing_game_centre",
    "deletion_auc",
    "insertion_auc",
    "deletion_auc_random",
    "insertion_auc_random",
    "road_morf",
    "road_lerf",
    "road_combined",
    "random_logit",
    "box_iou",
)


def summarise(results: list[dict], quantus: tuple[str, ...] = ()) -> dict[str, float]:
    """Means across images of each quality metric and of the named Quantus metrics (over the images Quantus
    scores; left out where it scores none), and the box accuracy (IoU >= 0.5)."""
    summary = {key: float(np.mean([r[key] for r in results])) for key in METRICS if results and key in results[0]}
    for key in quantus:
        if scored := [r[key] for r in results if r.get(key) is not None]:
            summary[key] = float(np.mean(scored))
    if "box_iou" in summary:
        summary["box_accuracy"] = float(np.mean([r["box_iou"] >= 0.5 for r in results]))
    return summary


def sanity_rows(sanity: dict[str, list[torch.Tensor]]) -> list[dict]:
    """Per depth of the cascading randomisation (top down), the mean and sd over images of the rank correlation."""
    rows = []
    for path, parts in sanity.items():
        values = torch.cat(parts)
        spread = float(values.std(correction=0))
        rows.append({"randomised": path, "spearman": float(values.mean()), "spearman_std": spread})
    return rows


def plot_curves(curves: dict[str, list[float]], method: str, path: Path) -> None:
    """The mean deletion and insertion curves, the map's pixel order against a random one, as a PNG."""
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    for axes, kind in zip(figure.subplots(1, 2), ("deletion", "insertion")):
        for suffix, label, style in (("", method, "-"), ("_random", "random order", "--")):
            curve = torch.tensor(curves[f"{kind}_curve{suffix}"])
            area = float(auc(curve[None]))  # of the mean curve: the mean of the images' AUCs
            axes.plot(np.linspace(0, 1, len(curve)), curve, style, label=f"{label} (AUC {area:.3f})")
        axes.set(
            title=kind,
            xlabel=f"share of pixels {'removed' if kind == 'deletion' else 'restored'}",
            ylabel="mean probability of the target",
            ylim=(0, 1.02),
        )
        axes.legend()
    save_figure(figure, path)


def plot_sanity(rows: list[dict], method: str, path: Path) -> None:
    """Rank correlation with the original map against the depth randomised down to, as a PNG."""
    figure = Figure(figsize=(max(6, 0.3 * len(rows)), 4), layout="constrained")
    axes = figure.add_subplot()
    means, sds = np.array([r["spearman"] for r in rows]), np.array([r["spearman_std"] for r in rows])
    axes.errorbar(range(len(rows)), means, yerr=sds, marker="o", capsize=3, label=method)
    axes.set_xticks(range(len(rows)), [r["randomised"] for r in rows], rotation=90, fontsize=7)
    axes.set(xlabel="randomised from the top down to", ylabel="Spearman rank correlation")
    axes.set_ylim(top=1.05)
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.legend()
    save_figure(figure, path)


def log_run(trainer: L.Trainer, metrics: dict, output_dir: Path) -> None:
    """The summary, the perturbation curves and the sanity-check plot to the loggers (W&B)."""
    for logger in trainer.loggers:
        if "summary" in metrics:
            logger.log_metrics(metrics["summary"])
        for key in ("curves_png", "sanity_check_png"):
            if key in metrics and hasattr(logger, "log_image"):
                logger.log_image(key.removesuffix("_png"), [str(output_dir / metrics[key])])
