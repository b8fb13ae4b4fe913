"""Where convis's configs live (conf/ in a checkout, convis/conf when installed) and what their groups hold."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

HERE = Path(__file__).resolve().parent


def conf_dir() -> Path:
    """The folder holding config.yaml and one folder per config group."""
    for candidate in (HERE / "conf", HERE.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"convis's conf/ is missing beside {HERE}: reinstall convis")


def options(group: str) -> list[str]:
    """The options of a config group (its YAML files' stems), sorted."""
    return sorted(path.stem for path in (conf_dir() / group).glob("*.yaml"))


def option_node(group: str, name: str) -> DictConfig:
    """A config group's option as a node, without its defaults list: what an experiment's part runs with."""
    path = conf_dir() / group / f"{name}.yaml"
    node = OmegaConf.load(path)
    with open_dict(node):
        node.pop("defaults", None)
    return node
