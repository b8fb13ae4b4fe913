"""The README's gallery: what the demo's network learned, as a few small labelled PNGs in docs/gallery/.

    python scripts/gallery.py                       # the network `make demo` fine-tuned on shapes
    python scripts/gallery.py PATH/best.ckpt --out DIR --steps 0.5

From a MobileNetV2 checkpoint fine-tuned on shapes (disc, square, triangle), through the Python API:
inversion.png (one held-out shape reconstructed from several layers), class_models.png (a class model of
each class), saliency.png (three held-out shapes with their gradient and Grad-CAM overlays) and atlas.png
(the first channels of one layer, each maximised) and microscope.png (a few units of one layer, each with its
visualisation and its strongest training shapes, cropped to its receptive field). `--steps` scales every run's
step count (1 = the defaults below); `--random-init` uses an untrained network instead of a checkpoint, to try the
script.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import convis
from convis.data.shapes import CLASSES, render

DEMO_CHECKPOINT = Path("outputs/demo_network/checkpoints/best.ckpt")
OUT = Path("docs/gallery")
SIZE = 64  # the demo network's input size
TILE = 128  # each picture is shown at twice its size
SMALL = 96  # the class models and the saliency grid: side by side on a page
SEED = 1000  # held-out shapes, drawn apart from the fine-tune's (as the demo's saliency)
INVERTED = 1  # the square
LAYERS = ["Conv1_relu", "block_2_add", "block_5_add", "block_9_add", "block_13_expand_relu", "out_relu"]
ATLAS = ("block_13_expand_relu", "0:8")
MICROSCOPE = ("block_5_add", "0:4", 4)  # the layer, its units, the examples shown of each
STEPS = {"inversion": 350, "class_model": 256, "atlas": 256, "microscope": 256}
QUIET = {"trainer": {"enable_progress_bar": False}}
FONT = ImageFont.load_default(size=12)
LINE = 15  # caption line height in pixels


def say(text: str) -> None:
    print(f"gallery: {text}", flush=True)


def held_out_shapes() -> list[np.ndarray]:
    """One disc, one square and one triangle (H x W x 3 uint8), drawn from SEED."""
    return [render(label, SIZE, np.random.default_rng([SEED, label])).pixels for label in range(len(CLASSES))]


def sheet(tiles: Sequence[Sequence[tuple[Image.Image, str]]], title: str, tile: int = TILE) -> Image.Image:
    """Rows of `tile`-pixel tiles, each captioned in two lines, under a title, on white."""
    columns = max(len(row) for row in tiles)
    gap = 6
    width = max(columns * (tile + gap) + gap, round(FONT.getlength(title)) + 2 * gap)
    caption = 2 * LINE + 2  # every caption has two lines
    height = LINE + 4 + len(tiles) * (tile + caption + gap) + gap
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    draw.text((gap, 3), title, fill="black", font=FONT)
    for r, row in enumerate(tiles):
        top = LINE + 4 + r * (tile + caption + gap)
        for c, (image, text) in enumerate(row):
            left = gap + c * (tile + gap)
            scaling = Image.NEAREST if tile % image.width == 0 else Image.LANCZOS  # whole multiples: pixels as computed
            page.paste(image.convert("RGB").resize((tile, tile), scaling), (left, top))
            draw.multiline_text((left, top + tile + 3), text, fill="black", font=FONT, spacing=3)
    return page


def inversion(model: str, network: dict, shape: np.ndarray, steps: int) -> Image.Image:
    result = convis.invert(model, shape, layer=LAYERS, steps=steps, image_size=SIZE, **network, **QUIET)
    tiles = [(Image.fromarray(shape), "picture\n")]
    for image, row in zip(result.images, result.metrics["results"]):
        tiles.append((image, f"{row['layer']}\nerror {row['normalized_error']:.2f}"))
    return sheet([tiles], f"Inversion of a {CLASSES[INVERTED]} from each layer (normalised error), {steps} steps")


def class_models(model: str, network: dict, targets: list, steps: int) -> Image.Image:
    result = convis.class_model(model, targets, steps=steps, image_size=SIZE, **network, **QUIET)
    tiles = [
        (image, f"{row['target']}\np = {row['target_prob']:.2f}")
        for image, row in zip(result.images, result.metrics["results"])
    ]
    return sheet([[tile] for tile in tiles], f"Class models, {steps} steps", SMALL)  # as tall as the saliency grid


def saliency(model: str, network: dict, shapes: list[np.ndarray]) -> Image.Image:
    maps = {
        method: convis.saliency(model, shapes, method=method, image_size=SIZE, **network, **QUIET)
        for method in ("gradient", "gradcam")
    }
    rows = []
    for n, shape in enumerate(shapes):
        target = maps["gradient"].metrics["results"][n]["target"]
        row = [(Image.fromarray(shape), f"a {CLASSES[n]}\n-> {target}")]
        row += [(result.images[n], f"{method}\n") for method, result in maps.items()]
        rows.append(row)
    return sheet(rows, "Saliency for the class predicted (->)", SMALL)


def atlas(model: str, network: dict, steps: int) -> Image.Image:
    layer, channels = ATLAS
    first, stop = (int(end) for end in channels.split(":"))
    result = convis.activation(model, layer, channel=channels, steps=steps, image_size=SIZE, **network, **QUIET)
    tiles = [(image, f"channel {row['channel']}\n") for image, row in zip(result.images, result.metrics["results"])]
    return sheet([tiles], f"{layer}, channels {first}-{stop - 1}: each channel maximised, {steps} steps")


def loaded(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def microscope(model: str, network: dict, steps: int) -> Image.Image:
    layer, channels, shown = MICROSCOPE
    spec = {"channel": channels, "k": shown, "inversions": 0}
    data = {"dataset": "shapes", "dataset.size": 1000, **QUIET}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        convis.microscope(
            model, layers=layer, steps=steps, image_size=SIZE, objective=spec, output_dir=folder, **data, **network
        )
        site = Path(folder) / "microscope"
        for unit in json.loads((site / "units.json").read_text()):
            label = f" ({unit['label']['concept']})" if unit["label"] else ""  # a label, where one passes
            caption = f"channel {unit['channel']}{label}\nratio {unit['trust']['ratio']:.2f}"
            row = [(loaded(site / unit["visualisation"]), caption)]
            for example in unit["exemplars"]:
                kind = example["image"].rsplit("_", 1)[-1]
                row.append((loaded(site / example["png"]), f"a {kind}\nactivation {example['activation']:.1f}"))
            rows.append(row)
    return sheet(rows, f"Microscope of {layer}: each unit visualised, then the shapes that activate it most", SMALL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint", nargs="?", type=Path, default=DEMO_CHECKPOINT, help="a shapes MobileNetV2 checkpoint"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the PNGs (default {OUT})")
    parser.add_argument("--steps", type=float, default=1.0, help="scale of every step count (default 1)")
    parser.add_argument("--random-init", action="store_true", help="an untrained network instead of a checkpoint")
    args = parser.parse_args(argv)
    if args.random_init:
        network, targets = {"weights": None}, list(range(len(CLASSES)))  # ImageNet's head: classes 0, 1, 2
    elif args.checkpoint.is_file():
        network, targets = {"weights": str(args.checkpoint)}, list(CLASSES)  # its classes: the checkpoint's
    else:
        print(f"gallery: no checkpoint at {args.checkpoint}: run make demo first", file=sys.stderr)
        return 1
    steps = {name: max(1, round(count * args.steps)) for name, count in STEPS.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    shapes = held_out_shapes()
    pages = {
        "inversion": lambda: inversion("mobilenet_v2", network, shapes[INVERTED], steps["inversion"]),
        "class_models": lambda: class_models("mobilenet_v2", network, targets, steps["class_model"]),
        "saliency": lambda: saliency("mobilenet_v2", network, shapes),
        "atlas": lambda: atlas("mobilenet_v2", network, steps["atlas"]),
        "microscope": lambda: microscope("mobilenet_v2", network, steps["microscope"]),
    }
    for name, make in pages.items():
        path = args.out / f"{name}.png"
        make().save(path, optimize=True)
        say(f"{path} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
