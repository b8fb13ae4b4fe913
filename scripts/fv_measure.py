"""Class models measured: each prior's target probability, on crops/flips (robustness) and on another network.

    python scripts/fv_measure.py NETWORK_A.ckpt NETWORK_B.ckpt [--priors maco olah simonyan] [--steps 256]

Both checkpoints are MobileNetV2s fine-tuned on shapes (objective=finetune backbone=mobilenet_v2
backbone.weights=null dataset=shapes seed=S). For each prior, a class model of every class is made on A and
its target probability reported: on A as made (`prob`), on A over random resized crops (area 0.5-1) and flips
(`robust`), and on B, as made and augmented (`transfer`, `transfer_robust`). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import convis
from convis.api import compose_config
from convis.backbones.names import LOGITS
from convis.experiments.setup import configured_backbone
from convis.metrics.robustness import robust_probability, target_probability

CLASSES = ["disc", "square", "triangle"]
SETTINGS = {
    "maco": {"prior": "maco", "optimizer": "nadam"},
    "olah": {"prior": "olah"},
    "simonyan": {"prior": "simonyan"},
}
QUIET = {"trainer": {"enable_progress_bar": False}}


def logits_of(checkpoint: str, image_size: int):
    """The fine-tuned network's logits as a function of a normalised image batch."""
    with tempfile.TemporaryDirectory() as folder:
        cfg = compose_config(
            ["backbone=mobilenet_v2", f"backbone.weights={checkpoint}", f"image_size={image_size}", "logger=none"],
            Path(folder),
        )
        extractor = configured_backbone(cfg).extractor([LOGITS])
    return lambda images: extractor(images)[LOGITS]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", help="the checkpoint the class models are made on")
    parser.add_argument("other", help="a second network's checkpoint (another seed): transferability")
    parser.add_argument("--priors", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--copies", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    own, other = logits_of(args.network, args.image_size), logits_of(args.other, args.image_size)
    print("| prior | class | prob | robust | transfer | transfer_robust |\n| --- | --- | --- | --- | --- | --- |")
    for prior in args.priors:
        made = convis.class_model(
            "mobilenet_v2",
            CLASSES,
            weights=args.network,
            steps=args.steps,
            image_size=args.image_size,
            seed=args.seed,
            **SETTINGS[prior],
            **QUIET,
        )
        images, targets = made.tensors["images"], list(range(len(CLASSES)))
        torch.manual_seed(args.seed)
        columns = [
            target_probability(own, images, targets),
            robust_probability(own, images, targets, args.copies),
            target_probability(other, images, targets),
            robust_probability(other, images, targets, args.copies),
        ]
        for row, name in enumerate(CLASSES):
            print(f"| {prior} | {name} | " + " | ".join(f"{c[row]:.3f}" for c in columns) + " |", flush=True)


if __name__ == "__main__":
    main()
