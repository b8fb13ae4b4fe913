"""The microscope's speed and memory: images per second of the dataset pass, its peak memory against the
dataset's size (flat: a streaming top-k), units per second of the visualisations, and what a whole VGG16
(4,224 conv units) would take.

python scripts/bench_microscope.py                      # CPU: MobileNetV2 pass at 64 px, VGG16 units at 128 px
python scripts/bench_microscope.py --device cuda --sizes 1000 10000 --vgg-units 64
Writes bench_microscope.json beside the printed lines.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import psutil
import torch

VGG16_UNITS = 4224  # the channels of VGG16's 13 conv layers
LAYERS = ["block_2_add", "block_5_add", "block_9_add", "block_13_expand_relu"]  # the pass's (MobileNetV2)


def dataset_pass_child(images: int, device: str) -> dict:
    """One pass over `images` shapes at 64 px for four MobileNetV2 layers: its rate and memory (in this process)."""
    from convis.backbones.backbone import build_backbone
    from convis.data.shapes import shapes
    from convis.units.exemplars import dataset_pass

    backbone = build_backbone("mobilenet_v2", weights=None)
    features = backbone.extractor(LAYERS).to(device)
    data = shapes(size=images, image_size=64, mean=backbone.mean, std=backbone.std)
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    dataset_pass(lambda x: features(x.to(device)), data, k=8, batch_size=64)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {
        "images": images,
        "seconds": seconds,
        "images_per_s": images / seconds,
        "peak_mib": peak / 2**20,
        "rise_mib": (peak - before) / 2**20,
    }


def dataset_pass_row(images: int, device: str) -> dict:
    """The pass run in a fresh process, so that each size's peak memory is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(images), "--device", device],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def visualisation_seconds(units: int, steps: int, size: int, device: str) -> float:
    """The wall time of `units` channels of VGG16's block4_conv1 visualised together (one part), MACO."""
    import convis

    accelerator = "gpu" if device == "cuda" else "cpu"
    overrides = ["objective=activation", "layer=block4_conv1", f"objective.channel=0:{units}", "prior=maco"]
    overrides += [f"objective.batch_size={units}", "optimizer=nadam", "backbone.weights=null", f"image_size={size}"]
    overrides += [f"steps={steps}", f"trainer.accelerator={accelerator}", "trainer.enable_progress_bar=false"]
    start = time.perf_counter()
    convis.run(overrides)
    return time.perf_counter() - start


def visualisation_row(units: int, steps: int, size: int, device: str) -> dict:
    """Units per second at the microscope's 256 steps, from the difference of a `steps` and a 2 x `steps` run
    (which leaves out building the network and writing the files)."""
    short, long = (visualisation_seconds(units, n, size, device) for n in (steps, 2 * steps))
    per_unit = (long - short) / steps * 256 / units
    hours = VGG16_UNITS * per_unit / 3600
    return {
        "units": units,
        "steps": [steps, 2 * steps],
        "image_size": size,
        "seconds": [short, long],
        "units_per_s_at_256_steps": 1 / per_unit,
        "vgg16_hours_one_device": hours,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 3000, 10000], help="dataset sizes of the pass")
    parser.add_argument("--vgg-units", type=int, default=16, help="VGG16 units in the visualisation row (0: skip)")
    parser.add_argument("--steps", type=int, default=8, help="the visualisation row's steps (scaled to 256)")
    parser.add_argument("--size", type=int, default=128, help="the visualisation row's image size")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(dataset_pass_child(args.child, args.device)))
        return 0
    rows = {"device": args.device, "threads": torch.get_num_threads(), "pass": [], "visualisation": None}
    for images in args.sizes:
        row = dataset_pass_row(images, args.device)
        rows["pass"].append(row)
        print(
            f"dataset pass, {images} images: {row['images_per_s']:.0f} images/s, peak {row['peak_mib']:.0f} MiB "
            f"({row['rise_mib']:+.0f} MiB during the pass)",
            flush=True,
        )
    if args.vgg_units:
        row = rows["visualisation"] = visualisation_row(args.vgg_units, args.steps, args.size, args.device)
        print(
            f"visualisations, VGG16 block4_conv1 at {args.size} px: {row['units_per_s_at_256_steps']:.3f} units/s at "
            f"256 steps; a whole VGG16 ({VGG16_UNITS} units): {row['vgg16_hours_one_device']:.1f} h on one device, "
            f"{row['vgg16_hours_one_device'] / 8:.1f} h split over 8"
        )
    with open("bench_microscope.json", "w") as file:
        json.dump(rows, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
