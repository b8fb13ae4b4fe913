"""List a backbone's layers: name, module path, output shape and stride at the configured size.

python scripts/layers.py backbone=vgg16 image_size=224
"""

import sys
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

# the checkout's own modules import too, e.g. experiment=own_network's tests.backbones.tiny_nets
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convis.backbones.probe import probe
from convis.runtime.errors import user_error
from convis.runtime.trusted import check_targets


def table(cfg: DictConfig) -> list[str]:
    """One line per named layer (shapes do not depend on the weights, so none are loaded)."""
    check_targets(cfg)
    backbone = instantiate(cfg.backbone, weights=None)
    rows = probe(backbone.net, backbone.names, cfg.image_size, backbone.channels)
    lines = [f"{'layer':<30} {'module path':<22} {'output shape':<18} stride"]
    lines += [f"{r.name:<30} {r.path or '(the output)':<22} {'x'.join(map(str, r.shape)):<18} {r.stride}" for r in rows]
    return lines


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        print("\n".join(table(cfg)))
    except Exception as err:
        if (problem := user_error(err)) is None:
            raise
        print(f"convis: error: {problem}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
