"""Training and validation batches of a labelled dataset, with augmentation of the training images."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, Sampler

from convis.runtime.distributed import world


class Augmented(Dataset):
    """Another dataset's items with `transform` applied to each image, drawn anew on every access."""

    def __init__(self, dataset: Dataset, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        return {**item, "image": self.transform(item["image"])}


class ClassificationData(L.LightningDataModule):
    """Shuffled, augmented training batches and plain validation batches of `{"image", "label", ...}`."""

    def __init__(
        self,
        train: Dataset,
        val: Dataset,
        batch_size: int = 64,
        num_workers: int = 0,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set = (Augmented(train, augment) if augment else train), val
        self.batch_size, self.num_workers = batch_size, num_workers

    def _loader(self, dataset: Dataset, shuffle: bool, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Every validation image once, also under DDP (Lightning's own sampler repeats some to even out the shares)."""
        rank, size = world()
        sampler = UnrepeatedDistributedSampler(self.val_set, size, rank, shuffle=False) if size > 1 else None
        return self._loader(self.val_set, shuffle=False, sampler=sampler)
