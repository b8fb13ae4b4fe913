"""Runs over several processes (Lightning's DDP, `trainer.devices=N trainer.strategy=ddp`).

With strategy=ddp Lightning starts the other processes by running the same command again, so every
process runs the whole experiment: each works on its share of the data, and only the main one writes
the run's own files (provenance.json, metrics.json).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch.distributed as dist
from lightning.fabric.utilities.rank_zero import rank_zero_only
from torch.utils.data import Sampler


def is_main_process() -> bool:
    """Whether this process writes the run's files: the only one, or rank 0 of several (known from the start)."""
    return getattr(rank_zero_only, "rank", 0) == 0


def world() -> tuple[int, int]:
    """This process's rank and the number of processes (0 and 1 outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class BatchShare(Sampler[int]):
    """The dataset's indices in order, whole batches to each process in turn (batch b to process b mod N).

    Every batch holds the same images as with one process, so whatever a batch computes (a seeded
    random order per batch position) is the same; nothing is repeated to even out the shares.
    The process group is read when iterating, after the strategy has set it up.
    """

    def __init__(self, length: int, batch_size: int) -> None:
        self.length, self.batch_size = length, batch_size

    def indices(self) -> list[int]:
        rank, size = world()
        starts = range(rank * self.batch_size, self.length, size * self.batch_size)
        return [i for start in starts for i in range(start, min(start + self.batch_size, self.length))]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())


def gathered(local: list[Any]) -> list[Any]:
    """Every process's items (picklable objects), concatenated in rank order; `local` alone in one process."""
    rank, size = world()
    if size == 1:
        return local
    parts: list[list[Any] | None] = [None] * size
    dist.all_gather_object(parts, local)
    return [item for part in parts for item in part]
