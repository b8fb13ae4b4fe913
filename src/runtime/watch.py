"""The losses of an optimisation, watched for NaN and Inf on the device, a batch of steps at a time."""

from __future__ import annotations

import torch

from convis.runtime.errors import NonFiniteLoss

NEVER = torch.iinfo(torch.long).max


class FiniteWatch:
    """Per logged value (each group's terms, then its total; the mean over the group's images): the first
    step at which it went non-finite and its value there, the last image whose losses were all finite, and
    the values of the last step, for the loggers.

    Per step it only keeps the step's values and a copy of the image they are of; `update` accounts for the
    steps kept so far at once, on the device, and only `stop_if_non_finite` waits for it.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.lengths: list[int] = []
        self.segments: torch.Tensor | None = None  # the value each entry of a step's vector belongs to
        self.images: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.last_good: torch.Tensor | None = None
        self.first_bad: torch.Tensor | None = None  # per value: the step (from 1) it went non-finite, 0 if never
        self.bad_value: torch.Tensor | None = None
        self.last: torch.Tensor | None = None

    def describe(self, groups: list[tuple[str, dict[str, torch.Tensor]]]) -> None:
        """Name each group's values (its terms, then `tag/loss`) once: the first step says what every step holds."""
        if self.names:
            return
        for tag, parts in groups:
            self.names += [*(f"{tag}/{name}" for name in parts), f"{tag}/loss"]
            lengths = [value.numel() for value in parts.values()]
            self.lengths += [*lengths, max(lengths)]

    def see(self, image: torch.Tensor, values: torch.Tensor) -> None:
        """Keep a step's values (each group's per image, in the order `describe` gave) and the image they are of
        (the step may change it in place)."""
        self.images.append(image.clone())
        self.values.append(values)

    def update(self, first: int) -> None:
        """Account for the steps kept since the last update: steps `first` + 1 ... `first` + k."""
        images, self.images = torch.stack(self.images), []
        values, self.values = torch.stack(self.values), []
        if self.segments is None:
            count = torch.tensor(self.lengths, device=values.device)
            self.segments = torch.repeat_interleave(torch.arange(len(self.lengths), device=values.device), count)
            self.counts = count.to(values.dtype)
            self.first_bad = torch.zeros(len(self.lengths), dtype=torch.long, device=values.device)
            self.bad_value = torch.zeros(len(self.lengths), dtype=values.dtype, device=values.device)
            self.last_good = images[0]
        means = values.new_zeros(len(values), len(self.lengths)).index_add_(1, self.segments, values) / self.counts
        self.last = means[-1]
        bad = ~torch.isfinite(means)
        steps = torch.arange(first + 1, first + len(values) + 1, device=values.device)
        at = torch.where(bad, steps[:, None], NEVER).min(0)
        clean = self.first_bad == 0
        newly = clean & bad.any(0)
        self.first_bad = torch.where(newly, at.values, self.first_bad)
        self.bad_value = torch.where(newly, means.gather(0, at.indices[None])[0], self.bad_value)
        good = (~bad.any(1)).long().cumprod(0).sum() * clean.all()  # leading steps all finite, after none bad
        latest = images.index_select(0, (good - 1).clamp(min=0).view(1))[0]
        self.last_good = torch.where(good > 0, latest, self.last_good)

    def logs(self) -> dict[str, float]:
        """The last step's values by name, and `loss`, the sum of the groups' totals (waits for the device)."""
        values = dict(zip(self.names, self.last.tolist()))
        return {**values, "loss": sum(v for name, v in values.items() if name.endswith("/loss"))}

    def stop_if_non_finite(self) -> None:
        """Raise NonFiniteLoss for the value that went non-finite first (a term before its group's total)."""
        if not bool(self.first_bad.any()):  # the one wait for the device, at logging steps only
            return
        steps = self.first_bad.tolist()
        index = min((step, i) for i, step in enumerate(steps) if step)[1]
        raise NonFiniteLoss(self.names[index], steps[index], float(self.bad_value[index]))
