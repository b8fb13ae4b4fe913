"""The seeded train/val split every labelled dataset shares: stratified, the same for one seed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convis.runtime.errors import ConvisError

SPLITS = ("all", "train", "val")


def check_split(split: str) -> None:
    """Fail on a split name other than all, train and val."""
    if split not in SPLITS:
        raise ConvisError(f"unknown dataset.split={split!r}: choose one of {', '.join(SPLITS)}")


def split_indices(labels: Sequence[int | None], split: str, val_fraction: float, seed: int) -> list[int]:
    """The sorted indices of `split`: every item, or the train or val part of each class.

    Each class sends round(n * val_fraction) of its n items to val, at least one when it has
    two or more, and always keeps one for training; the choice depends only on `seed`.
    """
    check_split(split)
    if split == "all":
        return list(range(len(labels)))
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise ConvisError(
            f"dataset.val_fraction={val_fraction!r} must lie between 0 and 1, e.g. dataset.val_fraction=0.2"
        )
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for label in sorted(set(labels), key=str):
        members = [i for i, own in enumerate(labels) if own == label]
        count = min(max(round(len(members) * val_fraction), 1), len(members) - 1)
        val += [members[i] for i in rng.permutation(len(members))[:count]]
    chosen = set(val) if split == "val" else set(range(len(labels))) - set(val)
    return sorted(chosen)
