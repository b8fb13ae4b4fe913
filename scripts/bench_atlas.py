"""Channels per second of a layer atlas: convis's batches of channels against Lucent, one process.

    python scripts/bench_atlas.py                                   # VGG16 block3_conv1, 32 channels, 64 px, 10 steps
    python scripts/bench_atlas.py --layer block4_conv1 --channels 64 --batch-size 32 --size 128 --device cuda

Every approach optimises one image per channel (the mean of the channel), pixel parameterisation, no
transforms, Adam at lr 0.05, `--steps` steps each, random-init weights: (a) convis, `--batch-size`
channels per pass (what `objective.channel=all` runs), (b) Lucent's render_vis one channel at a time,
(c) Lucent with a batch objective (`objectives.channel(layer, c, batch=i)` summed over a batch of
images, `--batch-size` at a time). Lucent is the `bench` extra (pip install -e ".[bench]").
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial, reduce
from operator import add
from pathlib import Path

import torch
import torchvision

from convis.backbones import build_backbone
from convis.modules.visualisation import Group, VisualisationModule
from convis.objectives.activation import channels
from convis.params.pixel import PixelImage
from convis.runtime.loop import Loop

# the measured case unless the command line says otherwise (scripts/bench.py --atlas N takes it as it is)
DEFAULTS = {"arch": "vgg16", "layer": "block3_conv1", "size": 64, "steps": 10, "batch": 32}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def batches(chosen: list[int], size: int) -> list[list[int]]:
    return [chosen[i : i + size] for i in range(0, len(chosen), size)]


def convis_seconds(arch: str, layer: str, chosen: list[int], size: int, steps: int, batch: int, device: str) -> float:
    """Seconds for convis to optimise one image per channel, `batch` channels per network pass."""
    backbone = build_backbone(arch, weights=None, seed=0)
    extractor = backbone.extractor([layer])
    groups, start = [], 0
    for part in batches(chosen, batch):
        groups.append(Group(f"{layer}:{part[0]}", slice(start, start + len(part)), extractor, channels(layer, part)))
        start += len(part)
    image = PixelImage(torch.randn(len(chosen), 3, size, size) * 0.5)
    module = VisualisationModule(image, groups, lambda params: torch.optim.Adam(params, lr=0.05), steps)
    loop = Loop(steps, accelerator="gpu" if device == "cuda" else device)
    sync(device)
    begin = time.perf_counter()
    loop.fit(module)
    sync(device)
    return time.perf_counter() - begin


def lucent_seconds(arch: str, path: str, chosen: list[int], size: int, steps: int, batch: int | None, device: str):
    """Seconds for Lucent's render_vis, one channel at a time (`batch` None) or a batch objective; None without it."""
    try:
        from lucent.optvis import objectives, param, render
    except ImportError:
        return None
    model = torchvision.models.get_model(arch, weights=None).to(device).eval()
    name = path.replace(".", "_")

    def render_all(steps: int) -> None:
        for part in batches(chosen, batch or 1):
            if batch is None:
                objective = objectives.channel(name, part[0])
            else:
                objective = reduce(add, [objectives.channel(name, c, batch=i) for i, c in enumerate(part)])
            render.render_vis(
                model,
                objective,
                param_f=partial(param.image, size, batch=len(part), fft=False, decorrelate=False),
                optimizer=lambda params: torch.optim.Adam(params, lr=0.05),
                transforms=[],
                preprocess=False,
                thresholds=(steps,),
                verbose=False,
                progress=False,
                show_image=False,
                fixed_image_size=size,
            )

    render_all(1)  # warm-up
    sync(device)
    begin = time.perf_counter()
    render_all(steps)
    sync(device)
    return time.perf_counter() - begin


def atlas_rows(arch: str, layer: str, count: int, size: int, steps: int, batch: int, device: str) -> list[dict]:
    """Channels per second of each approach on the first `count` channels of `layer`."""
    chosen = list(range(count))
    path = build_backbone(arch, weights=None, seed=0).path(layer)
    convis_seconds(arch, layer, chosen[:batch], size, 1, batch, device)  # warm-up
    found = {
        "convis": convis_seconds(arch, layer, chosen, size, steps, batch, device),
        "lucent (one channel at a time)": lucent_seconds(arch, path, chosen, size, steps, None, device),
        "lucent (batch objective)": lucent_seconds(arch, path, chosen, size, steps, batch, device),
    }
    return [
        {"approach": name, "arch": arch, "layer": layer, "size": size, "steps": steps, "channels_per_s": count / s}
        for name, s in found.items()
        if s is not None
    ]


def line(row: dict) -> str:
    """One row as printed."""
    return (
        f"{row['arch']} {row['layer']} {row['size']} px, {row['steps']} steps: {row['approach']:>31} "
        f"{row['channels_per_s']:8.2f} channels/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default=DEFAULTS["arch"], choices=["vgg16", "mobilenet_v2"])
    parser.add_argument("--layer", default=DEFAULTS["layer"])
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch"])
    parser.add_argument("--size", type=int, default=DEFAULTS["size"])
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="bench_atlas.json")
    args = parser.parse_args(argv)
    rows = atlas_rows(args.arch, args.layer, args.channels, args.size, args.steps, args.batch_size, args.device)
    for row in rows:
        print(line(row), flush=True)
    Path(args.out).write_text(
        json.dumps({"device": args.device, "threads": torch.get_num_threads(), "rows": rows}, indent=2)
    )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
