"""Classification batches: shuffled, augmented training images; validation images as the dataset gives them."""

import torch

from convis.data.classification import ClassificationData
from convis.data.shapes import shapes


def flip(image: torch.Tensor) -> torch.Tensor:
    return image.flip(-1)


def test_training_batches_are_augmented_and_validation_batches_are_not():
    train, val = shapes(size=12, image_size=16, split="train"), shapes(size=12, image_size=16, split="val")
    data = ClassificationData(train, val, batch_size=4, augment=flip)
    torch.manual_seed(0)
    batches = list(data.train_dataloader())
    assert [len(b["label"]) for b in batches] == [4, 4, 1]
    seen = {name: image for b in batches for name, image in zip(b["name"], b["image"])}
    assert sorted(seen) == sorted(train.names) and [b["name"] for b in batches][0] != train.names[:4]
    for position, name in enumerate(train.names):
        torch.testing.assert_close(seen[name], train[position]["image"].flip(-1))
    (batch,) = list(data.val_dataloader())
    assert batch["name"] == val.names and batch["label"].tolist() == val.labels
    torch.testing.assert_close(batch["image"], torch.stack([item["image"] for item in val]))
    assert batch["box"].shape == (3, 4) and batch["mask"].shape == (3, 16, 16)
