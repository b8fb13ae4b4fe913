"""NaN and Inf are errors, never results: each check names what went non-finite, as what it is, and why."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

import torch

from convis.runtime.errors import ConvisError

FROM_INPUTS = (
    "the network's weights or its input hold non-finite values, "
    "or the network overflows at this precision (trainer.precision=32-true)"
)
DAMAGED = (
    "the file is damaged or was saved from a training that diverged: "
    "give weights saved before it did, or backbone.weights=null for random init"
)
FROM_STEPS = "the optimisation diverged: lower the learning rate (optimizer.optim.lr) or the objective's weights"


def kinds(values: torch.Tensor) -> str:
    """The kinds of non-finite number in `values`: "NaN", "Inf", "-Inf" or several, e.g. "NaN and Inf"."""
    present = (("NaN", torch.isnan(values)), ("Inf", torch.isposinf(values)), ("-Inf", torch.isneginf(values)))
    return " and ".join(name for name, where in present if bool(where.any()))


def non_finite(values: torch.Tensor) -> str | None:
    """What non-finite numbers `values` holds, e.g. "NaN (3 of 216 values)"; None when all are finite."""
    if values.is_meta or not values.is_floating_point():
        return None
    values = values.detach()
    count = int((~torch.isfinite(values)).sum())
    return f"{kinds(values)} ({count} of {values.numel()} values)" if count else None


def require_finite(values: torch.Tensor, what: str, advice: str) -> torch.Tensor:
    """`values` when all are finite, else a ConvisError: "non-finite `what`: NaN (n of m values); `advice`"."""
    found = non_finite(values)
    if found is not None:
        raise ConvisError(f"non-finite {what}: {found}; {advice}")
    return values


def require_finite_rows(values: torch.Tensor, names: list[str], what: str, advice: str) -> torch.Tensor:
    """`values` (one row per named image) when all are finite, else a ConvisError naming the first bad image."""
    if non_finite(values) is not None:
        row = next(i for i, value in enumerate(values) if non_finite(value) is not None)
        require_finite(values[row], f"{what} of {names[row]}", advice)
    return values


def require_finite_weights(state: Mapping[str, torch.Tensor], source: str, advice: str = DAMAGED) -> None:
    """Every tensor of a state dict is finite, else a ConvisError naming the first bad tensor and `source`."""
    for key, tensor in state.items():
        found = non_finite(tensor)
        if found is not None:
            raise ConvisError(f"{source} holds non-finite weights: {key} has {found}; {advice}")


def require_finite_results(
    results: Iterable[Mapping[str, object]], advice: str, unbounded: Collection[str] = ()
) -> None:
    """Every number in metrics.json's results is finite, else a ConvisError naming the result and the key.

    `unbounded` keys may be +Inf, a true value (the PSNR of an exact reconstruction), but never NaN or -Inf.
    """
    for result in results:
        for key, value in result.items():
            if isinstance(value, float) and not math.isfinite(value) and not (key in unbounded and value > 0):
                label = ", ".join(str(result[k]) for k in ("image", "layer", "target") if k in result)
                raise ConvisError(f"non-finite {key} of {label}: {kinds(torch.tensor(value))}; {advice}")
