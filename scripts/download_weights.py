"""Pre-fetch torchvision's pretrained weights into its cache, on a machine with a network.

    python scripts/download_weights.py vgg16 mobilenet_v2 [--weights IMAGENET1K_V1]

Copy the cache folder it prints to an offline machine's torch hub cache to use them there.
"""

import argparse
import sys
from pathlib import Path

import torch

from convis.backbones.backbone import KERAS_NAMES
from convis.backbones.weights import pretrained_state_dict
from convis.runtime.errors import ConvisError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = list(KERAS_NAMES)
    parser.add_argument("archs", nargs="*", default=default, help=f"torchvision models (default: {' '.join(default)})")
    parser.add_argument("--weights", default="IMAGENET1K_V1", help="torchvision weights enum member")
    args = parser.parse_args(argv)
    try:
        for arch in args.archs:
            pretrained_state_dict(arch, args.weights)
            print(f"{arch} {args.weights}: cached")
    except ConvisError as err:
        print(f"convis: error: {err}", file=sys.stderr)
        return 2
    print(f"cache folder: {Path(torch.hub.get_dir()) / 'checkpoints'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
