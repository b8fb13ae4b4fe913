"""convis entry point: `python run.py objective=inversion layer=block5_conv3`."""

import sys

import hydra
from omegaconf import DictConfig

from src import experiments
from src.errors import user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    try:
        return experiments.run(cfg)
    except Exception as err:
        if (problem := user_error(err)) is None:
            raise
        print(f"convis: error: {problem}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
