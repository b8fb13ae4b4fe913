"""Quantus's metric families, picked by Quantus's own class names and options, run on each batch's maps.

`objective.quantus: {FaithfulnessCorrelation: {nr_runs: 20}, Sparseness: {}}` builds
`quantus.FaithfulnessCorrelation(nr_runs=20)` and `quantus.Sparseness()`, calls each on the batch with the
run's own saliency method as Quantus's `explain_func` (the metrics that re-explain perturbed images or
randomised networks need one), and gives one number per image under the class name. Which way is better
is Quantus's `score_direction`. Quantus refuses a batch of maps that are all zero, all negative or all one
value (its ordering-based metrics are undefined there, e.g. a perturbation method's map with one superpixel):
those images get NaN for the metric, a warning says why, and the means leave them out. Quantus draws its
noise from numpy's global generator: each call is seeded (the run's seed and the batch) and the generators'
states are put back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import quantus
import torch
from torch import Tensor, nn

from convis.attribution import SaliencyMethod
from convis.runtime.errors import ConvisError

log = logging.getLogger(__name__)
QUIET = {"disable_warnings": True, "display_progressbar": False}  # the defaults convis gives, options override


def metric_names() -> list[str]:
    """The class names of Quantus's metrics, as `objective.quantus` takes them."""
    found = (name for name in dir(quantus) if isinstance(getattr(quantus, name), type))
    return sorted(name for name in found if issubclass(getattr(quantus, name), quantus.Metric) and name != "Metric")


def build_metric(name: str, options: Mapping[str, Any]) -> quantus.Metric:
    """quantus.NAME(**options), one value per image; a one-line error for an unknown name or option."""
    valid = metric_names()
    if name not in valid:
        raise ConvisError(f"objective.quantus.{name}: unknown Quantus metric; valid: {', '.join(valid)}")
    try:
        return getattr(quantus, name)(**{**QUIET, **options, "return_aggregate": False})
    except (TypeError, ValueError) as error:
        raise ConvisError(f"objective.quantus.{name}={dict(options)}: {error}") from None


def higher_is_better(metric: quantus.Metric) -> bool:
    """Quantus's own word on the metric's direction."""
    return metric.score_direction.value == "higher"


def explainer(build: Callable[[nn.Module], SaliencyMethod]) -> Callable[..., np.ndarray]:
    """The run's saliency method as Quantus's explain_func: (model, inputs, targets) -> (N, 1, H, W) maps."""

    def explain(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs: Any) -> np.ndarray:
        device = next(model.parameters()).device
        images, classes = torch.as_tensor(inputs, device=device), torch.as_tensor(targets, device=device)
        return build(model).attribute(images, classes)[:, None].detach().float().cpu().numpy()

    return explain


class QuantusMetrics:
    """The configured Quantus metrics of a run, each called on a batch's images, targets and maps."""

    def __init__(self, metrics: Mapping[str, Mapping[str, Any] | None] | None = None, seed: int = 0) -> None:
        if not isinstance(metrics, Mapping | None):
            raise ConvisError(
                f"objective.quantus={metrics!r}: give Quantus class names with their options, "
                "e.g. objective.quantus='{Sparseness: {}, FaithfulnessCorrelation: {nr_runs: 20}}'"
            )
        self.metrics = {name: build_metric(name, options or {}) for name, options in (metrics or {}).items()}
        self.seed = seed

    def __bool__(self) -> bool:
        return bool(self.metrics)

    def directions(self) -> dict[str, bool]:
        """Per metric, whether higher is better."""
        return {name: higher_is_better(metric) for name, metric in self.metrics.items()}

    def __call__(
        self,
        net: nn.Module,
        build: Callable[[nn.Module], SaliencyMethod],
        images: Tensor,
        targets: Tensor,
        maps: Tensor,
        regions: Tensor | None = None,
        batch_idx: int = 0,
    ) -> dict[str, Tensor]:
        """(N,) per metric, under its class name; `regions` become Quantus's s_batch where given."""
        inputs = {
            "x_batch": images.detach().float().cpu().numpy(),
            "y_batch": targets.cpu().numpy(),
            "a_batch": maps[:, None].detach().float().cpu().numpy(),
            "s_batch": None if regions is None else regions[:, None].cpu().numpy(),
        }
        return {
            name: self.score(name, metric, net, explainer(build), inputs, str(images.device), batch_idx)
            for name, metric in self.metrics.items()
        }

    def score(
        self,
        name: str,
        metric: quantus.Metric,
        net: nn.Module,
        explain: Callable[..., np.ndarray],
        inputs: dict[str, Any],
        device: str,
        batch_idx: int,
    ) -> Tensor:
        """One metric's values on the batch, its numpy and torch noise seeded by the run's seed and the batch."""
        state = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                np.random.seed(self.seed + batch_idx)
                torch.manual_seed(self.seed + batch_idx)
                values = metric(model=net, **inputs, explain_func=explain, device=device)
        except AssertionError as refused:  # Quantus's checks of the maps (quantus.helpers.asserts)
            log.warning(
                "objective.quantus.%s: Quantus refuses batch %d's maps (%s): NaN there", name, batch_idx, refused
            )
            return torch.full((len(inputs["x_batch"]),), float("nan"))
        finally:
            np.random.set_state(state)
        try:
            return torch.tensor(np.asarray(values, dtype=np.float64)).float().view(len(inputs["x_batch"]))
        except (TypeError, ValueError, RuntimeError):
            raise ConvisError(
                f"objective.quantus.{name}: Quantus returned {type(values).__name__}, not one number per image; "
                "convis takes the metrics that score each image with one number"
            ) from None
