"""The memory check: one step's bytes counted on the meta device, and the largest image size that fits."""

import pytest
import torch
from torch import nn

from convis.backbones import memory
from convis.backbones.backbone import assemble
from convis.backbones.extractor import FeatureExtractor
from convis.runtime.errors import ConvisError


def chain() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))


@pytest.mark.parametrize(("batch", "size"), [(1, 8), (3, 20)])
def test_a_step_counts_saved_activations_the_two_largest_gradients_the_output_and_the_image(batch, size):
    # saved for backward: the image (3 channels, by conv 1) and the ReLU's output (4, by itself and conv 2);
    # the two largest again as gradients; the output (4); the image and its gradient (3 + 3): 24 floats a pixel
    net = chain()
    before = [p.clone() for p in net.parameters()]
    assert memory.step_bytes(FeatureExtractor(net, {"out": "2"}), 3, size, batch) == 24 * 4 * batch * size**2
    assert all(torch.equal(a, b) and a.device.type == "cpu" for a, b in zip(net.parameters(), before))


def test_weights_still_to_load_count_too():
    with torch.device("meta"):
        loading = assemble(chain(), "chain", (0.5,) * 3, (0.5,) * 3, [], channels_last=False)
    loaded = assemble(chain(), "chain", (0.5,) * 3, (0.5,) * 3, [], channels_last=False)
    extra = (3 * 4 * 9 + 4 + 4 * 4 * 9 + 4) * 4
    step = memory.needed_bytes(loaded, loaded.extractor(["2"]), 16, 1)
    assert memory.needed_bytes(loading, loading.extractor(["2"]), 16, 1) == step + extra


def test_a_size_that_does_not_fit_fails_naming_the_largest_that_does(monkeypatch):
    backbone = assemble(chain(), "chain", (0.5,) * 3, (0.5,) * 3, [], channels_last=False)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 24 * 4 * 2 * 40**2)
    memory.check_memory(backbone, ["2"], 40, 2, torch.device("cpu"))  # exactly what is free: it runs
    with pytest.raises(ConvisError) as info:
        memory.check_memory(backbone, ["2"], 64, 2, torch.device("cpu"))
    assert str(info.value) == (
        "image_size=64 needs about 768.0 KiB for 2 images through 2 of chain and back, "
        "more than the 300.0 KiB of RAM available: use image_size=40 or less"
    )


def test_nothing_is_checked_where_the_free_memory_is_unknown(monkeypatch):
    backbone = assemble(chain(), "chain", (0.5,) * 3, (0.5,) * 3, [], channels_last=False)
    monkeypatch.setattr(memory, "available_bytes", lambda device: None)
    memory.check_memory(backbone, ["2"], 10**6, 1, torch.device("cpu"))


def test_the_system_says_how_much_ram_is_available():
    free = memory.available_bytes(torch.device("cpu"))
    assert free is None or 0 < free


@pytest.mark.parametrize(
    ("accelerator", "devices", "device"),
    [("cpu", 1, "cpu"), ("gpu", [2], "cuda:2"), ("cuda", 1, "cuda:0"), ("mps", 1, "mps")],
)
def test_the_device_is_the_trainers(accelerator, devices, device):
    assert memory.run_device(accelerator, devices) == torch.device(device)
