"""Images optimised for what a network responds to: what class models and activation maximisation share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate

from convis.backbones import Backbone
from convis.data.images import denormalise
from convis.experiments.base import Experiment, Result
from convis.experiments.transparency import write_transparency
from convis.experiments.visualise import initial_image, optimise
from convis.modules.visualisation import Group
from convis.priors import Prior
from convis.runtime.finite import FROM_STEPS, require_finite_results, require_finite_rows
from convis.runtime.stops import save_final
from convis.runtime.writers import safe_name, save_image, write_json


@dataclass
class Plan:
    """What to optimise: the groups, one name per image row, and how to measure the final images."""

    groups: list[Group]
    names: list[str]
    measure: Callable[[torch.Tensor], list[dict]]


class Synthesis(Experiment):
    """Optimise one image per row of a plan (a class target, an activation objective); write images and metrics."""

    def plan(self, backbone: Backbone, prior: Prior) -> Plan:
        """What to optimise, on `backbone` with `prior`."""
        raise NotImplementedError

    def run(self, output_dir: Path) -> Result:
        cfg = self.cfg
        L.seed_everything(cfg.seed, verbose=False)
        backbone = self.backbone()
        prior: Prior = instantiate(cfg.prior)
        plan = self.plan(backbone, prior)
        shape = (len(plan.names), backbone.channels, cfg.image_size, cfg.image_size)
        init = initial_image(cfg.objective.init, shape, cfg.objective.init_scale)
        module = optimise(cfg, backbone, init, plan.groups, prior, plan.names, output_dir)
        image, _ = module.evaluate()
        require_finite_rows(image, plan.names, "final image", FROM_STEPS)
        results = plan.measure(image)
        require_finite_results(results, FROM_STEPS)
        for result, name, picture in zip(results, plan.names, denormalise(image, backbone.mean, backbone.std)):
            png = save_image(picture, output_dir / "images" / f"{safe_name(name)}.png")
            result["png"] = str(png.relative_to(output_dir))
        write_transparency(module.param, results, plan.names, output_dir)
        metrics = {"objective": cfg.objective.name, "backbone": backbone.arch, "results": results}
        write_json(metrics, output_dir / "metrics.json")
        save_final(module.trainer)
        return Result(metrics, output_dir, {"images": image})
