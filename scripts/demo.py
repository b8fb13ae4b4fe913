"""The demo (`make demo`): the three parts of convis on a trained network, offline, in one report.

1. a MobileNetV2 fine-tuned here on synthetic shapes (kept in outputs/demo_network: a second demo
   starts at once), 2. the inversion table of that network, 3. a class model of each of its classes,
4. gradient saliency on held-out shapes with its GrabCut localisation and quality metrics; then
outputs/demo/report.html. Where torchvision's ImageNet VGG16 weights are in torch's cache, the
inversion table is the original project's instead: VGG16, the cat, block3_conv1 to block5_conv3.
All of it goes through the Python API, as a notebook would.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from torchvision.models import VGG16_Weights

import convis
from convis.reporting.report import write

OUT, NETWORK = Path("outputs/demo"), Path("outputs/demo_network")
CLASSES = ["disc", "square", "triangle"]
LAYERS = ["Conv1_relu", "block_2_add", "block_5_add", "block_9_add", "block_13_expand_relu", "out_relu"]
QUIET = {"trainer": {"enable_progress_bar": False}}


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def trained_network() -> Path:
    """The fine-tuned MobileNetV2's checkpoint: trained now, or the one a previous demo left."""
    best = NETWORK / "checkpoints" / "best.ckpt"
    if best.is_file():
        say(f"reusing the MobileNetV2 fine-tuned on shapes in {NETWORK} (delete it to train again)")
        return best
    say("fine-tuning MobileNetV2 from random init on 3000 synthetic shapes, 64 px (about 5 minutes on 2 cores)")
    shapes = {"objective.epochs": 15, "objective.scheduler": None}  # a constant rate learns faster in 15 epochs
    run = convis.finetune("mobilenet_v2", "shapes", weights=None, output_dir=NETWORK, **shapes, **QUIET)
    result = run.metrics["results"][0]
    say(f"val_acc {result['val_acc']:.3f} (always the commonest class: {result['chance_acc']:.3f})")
    return best


def imagenet_vgg16_cached() -> bool:
    """Whether torchvision's ImageNet VGG16 weights are in torch's cache (no download is tried)."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG16_Weights.IMAGENET1K_V1.url).name).is_file()


def inversion_table(checkpoint: Path) -> None:
    """The original project's VGG16 table where its weights are cached, else the fine-tuned network's."""
    if imagenet_vgg16_cached():
        say("ImageNet VGG16 weights are cached: the original project's table (the cat, 224 px, 350 steps)")
        convis.run(["experiment=seed_table", "trainer.enable_progress_bar=false"], output_dir=OUT / "1_inversion")
        return
    say("no ImageNet weights in torch's cache (offline): inverting the fine-tuned MobileNetV2 instead of VGG16")
    three = {"dataset": "shapes", "dataset.size": 3}  # one disc, one square, one triangle
    convis.invert(
        "mobilenet_v2", layer=LAYERS, weights=str(checkpoint), output_dir=OUT / "1_inversion", **three, **QUIET
    )


def main() -> None:
    start = time.perf_counter()
    shutil.rmtree(OUT, ignore_errors=True)
    checkpoint = trained_network()
    inversion_table(checkpoint)
    say("a class model of each class")
    models = {"steps": 256}  # half Lucid's 512: each class is already the network's top class (p > 0.99)
    convis.class_model(
        "mobilenet_v2", CLASSES, weights=str(checkpoint), output_dir=OUT / "2_class_models", **models, **QUIET
    )
    say("gradient saliency on 60 held-out shapes, with GrabCut boxes, pointing game, deletion and insertion")
    held_out = {"dataset": "shapes", "dataset.seed": 1000, "dataset.size": 60}  # drawn apart from the training set
    convis.saliency("mobilenet_v2", weights=str(checkpoint), output_dir=OUT / "3_saliency", **held_out, **QUIET)
    html, _ = write(OUT, columns=3)
    say(f"done in {time.perf_counter() - start:.0f} s: open {html} in a browser")


if __name__ == "__main__":
    main()
