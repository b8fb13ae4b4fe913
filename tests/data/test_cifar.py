"""CIFAR-10: its own train/test parts as train/val, and a one-line way out when it cannot be downloaded."""

import pickle
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar

from convis.data.cifar import cifar10
from convis.runtime.errors import ConvisError

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", no_network)


@pytest.mark.parametrize("download", [True, False])
def test_missing_data_names_dataset_root_and_what_to_place_there(tmp_path, offline, download):
    with pytest.raises(ConvisError) as info:
        cifar10(root=str(tmp_path), split="val", download=download)
    message = str(info.value)
    assert f"dataset.root={tmp_path}" in message
    assert "cifar-10-python.tar.gz" in message and "cifar-10-batches-py" in message
    assert "\n" not in message


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    """A tiny CIFAR-10 folder in torchvision's pickle format (checksums switched off): 2 images per batch."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for n, name in enumerate(files):
        data = np.full((2, 3072), 10 * n, np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [n, 9 - n]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": NAMES}, f)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    return tmp_path


def test_train_val_and_all_are_its_own_parts(fake_cifar, offline):
    train, val, both = (cifar10(str(fake_cifar), image_size=16, split=s) for s in ("train", "val", "all"))
    assert len(train) == 10 and len(val) == 2 and len(both) == 12
    assert train.classes == val.classes == NAMES
    assert val.labels == [5, 4] and val.names == ["test00000", "test00001"]
    assert both.names == train.names + val.names and both.labels == train.labels + val.labels
    item = val[1]
    assert item["image"].shape == (3, 16, 16) and item["label"] == 4 and item["name"] == "test00001"
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(item["image"][:, 8, 8], (50 / 255 - mean) / std)


def test_unknown_split(fake_cifar):
    with pytest.raises(ConvisError, match="unknown dataset.split='test'"):
        cifar10(str(fake_cifar), split="test")
