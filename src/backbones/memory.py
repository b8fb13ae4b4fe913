"""The memory a run needs, known before it starts: one forward and backward pass on the meta device, whose
tensors have shapes but no numbers, against the memory free on the run's device."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.autograd.graph import saved_tensors_hooks
from torch.func import functional_call

from convis.backbones.backbone import Backbone
from convis.backbones.extractor import FeatureExtractor
from convis.runtime.errors import ConvisError


def in_units(count: float) -> str:
    """A number of bytes for people: 1.5 GiB, 96.0 KiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def weight_bytes(net: torch.nn.Module) -> int:
    """The bytes of a network's parameters and buffers."""
    return sum(nbytes(t) for t in (*net.parameters(), *net.buffers()))


def step_bytes(extractor: FeatureExtractor, channels: int, size: int, batch: int) -> int:
    """Bytes one step through `extractor` keeps alive at its peak, for `batch` images of size x size pixels.

    The activations autograd saves for the backward pass (each tensor once), the outputs, and the image and
    gradients beside them: the image's, and the two largest saved tensors' (the gradient flowing back and the one
    being made). Run on the meta device, with the extractor's weights swapped for meta ones: nothing is allocated.
    """
    state = {name: torch.empty_like(t, device="meta") for name, t in extractor.state_dict(keep_vars=True).items()}
    weights = {id(t) for t in state.values()}
    saved: dict[int, torch.Tensor] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        if id(tensor) not in weights:
            saved[id(tensor)] = tensor
        return tensor

    image = torch.zeros(batch, channels, size, size, device="meta", requires_grad=True)
    with saved_tensors_hooks(keep, lambda tensor: tensor):
        outputs = functional_call(extractor, state, (image,))
    sizes = sorted((nbytes(t) for t in saved.values()), reverse=True)
    return sum(sizes) + sum(sizes[:2]) + sum(nbytes(t) for t in outputs.values()) + 2 * nbytes(image)


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a run on `device`: CUDA's free memory, else the RAM the system says is available
    (within the container's limit where it has one); None where neither can be read."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        free = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
    cgroup = Path("/sys/fs/cgroup")
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            free = min(free, int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit to respect
    return free


def run_device(accelerator: str, devices: object) -> torch.device:
    """The device a Trainer with this `accelerator` and `devices` runs on (its first, for several)."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        index = devices[0] if isinstance(devices, Sequence) and not isinstance(devices, str) and devices else 0
        return torch.device("cuda", int(index))
    return torch.device("mps" if accelerator == "mps" else "cpu")


def needed_bytes(backbone: Backbone, extractor: FeatureExtractor, size: int, batch: int) -> int:
    """One step's peak, and the weights where they are still to be loaded (a network on the meta device)."""
    loading = next(backbone.net.parameters(), torch.empty(0)).is_meta
    return step_bytes(extractor, backbone.channels, size, batch) + (weight_bytes(backbone.net) if loading else 0)


def largest_fitting(backbone: Backbone, extractor: FeatureExtractor, size: int, batch: int, free: int) -> int:
    """The largest image size below `size` whose step fits in `free` bytes (0: none does)."""
    low, high = 0, size  # low fits (0 by definition), high does not
    while high - low > 1:
        middle = (low + high) // 2
        try:
            fits = needed_bytes(backbone, extractor, middle, batch) <= free
        except Exception:  # the network shrinks so small an image to nothing: it fits
            fits = True
        low, high = (middle, high) if fits else (low, middle)
    return low


def check_memory(backbone: Backbone, layers: list[str], size: int, batch: int, device: torch.device) -> None:
    """Fail before any work when a step at image_size=`size` needs more memory than `device` has free."""
    free = available_bytes(device)
    if free is None:
        return
    extractor = backbone.extractor(layers)
    try:
        need = needed_bytes(backbone, extractor, size, batch)
    except ConvisError:
        raise
    except Exception:  # an operation the meta device lacks: the run finds out itself
        return
    if need <= free:
        return
    largest = largest_fitting(backbone, extractor, size, batch, free)
    fix = (
        f"use image_size={largest} or less" if largest else "no image size fits: free memory or take a smaller network"
    )
    images = f"{batch} images" if batch > 1 else "one image"
    where = "GPU memory free" if device.type == "cuda" else "RAM available"
    raise ConvisError(
        f"image_size={size} needs about {in_units(need)} for {images} through {', '.join(layers)} of "
        f"{backbone.arch} and back, more than the {in_units(free)} of {where}: {fix}"
    )
