"""What a config may build: the callables its `_target_` keys name, which Hydra's instantiate calls.

A config comes from the command line, a sweep file, a preset or a run directory's .hydra/config.yaml (resume=,
and run directories are shared), so a `_target_` such as torch.load or shutil.copyfile would run whatever its
author chose. A config builds only what convis builds: convis's own classes and functions, the library classes
its shipped configs name, and, for the user's own network (backbone=custom), an nn.Module class. Anything else
must be named in the CONVIS_TRUSTED_TARGETS environment variable, which no config file can set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from hydra.utils import get_object  # the lookup instantiate makes of a `_target_`
from omegaconf import DictConfig, ListConfig
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from convis.runtime.errors import ConvisError

TRUSTED_VARIABLE = "CONVIS_TRUSTED_TARGETS"  # exact names separated by commas, e.g. mynets.build_net
MODULES = (
    "convis.",
    "torch.optim.",  # optimisers and learning-rate schedulers
    "torchvision.transforms.v2.",  # augmentations
    "lightning.pytorch.loggers.",
)  # what a target names under one of these must be defined under one too (convis.api.torch.load is torch.load)
LIBRARY = ("lightning.Trainer", "wandb.Settings")  # the other library callables conf/ names, by exact name
HYDRA_OWN = ("hydra.experimental.callbacks.", "hydra_plugins.")  # what Hydra's own settings may build
NETWORK = "backbone.model"  # the user's own network: any nn.Module class, its parts too
ALLOWED = (
    f"a config builds convis's own classes and functions (convis.*), {', '.join(m + '*' for m in MODULES[1:])}, "
    f"{', '.join(LIBRARY)}, and under {NETWORK} an nn.Module class"
)


def trusted_names() -> set[str]:
    """The callables the user allows by name in the environment."""
    return {name.strip() for name in os.environ.get(TRUSTED_VARIABLE, "").split(",")} - {""}


def check_targets(cfg: DictConfig) -> None:
    """Refuse, before anything is built, a `_target_` anywhere in `cfg` that names something convis does not build.

    Each value is read as it resolves (interpolations, nodes interpolated from elsewhere); one that does not resolve,
    or has no value, builds nothing and is left to validation to report.
    """
    trusted = trusted_names()
    for key, target in targets(cfg):
        if target not in trusted and not allowed(key, target):
            raise ConvisError(
                f"{key}={target} is not something a config may build: {ALLOWED}; to allow a callable of your "
                f"own, set {TRUSTED_VARIABLE}={target} in the environment (names separated by commas)"
            )


def check_hydra_overrides(args: Sequence[str]) -> None:
    """Refuse a command-line `_target_` of Hydra's own config (callbacks, launcher, sweeper), which Hydra builds
    before any job starts, unless it is one of Hydra's own or its plugins' classes, or trusted by name."""
    trusted = trusted_names()
    for arg in args:
        key, _, target = arg.partition("=")
        key = key.lstrip("+~")
        if key.startswith("hydra.") and key.endswith("_target_") and target not in trusted:
            if not target.startswith(HYDRA_OWN):
                raise ConvisError(
                    f"{key}={target} is not something a command line may build: Hydra's own settings build "
                    f"{', '.join(m + '*' for m in HYDRA_OWN)}; to allow a callable of your own, set "
                    f"{TRUSTED_VARIABLE}={target} in the environment"
                )


def targets(node: object, key: str = "", above: tuple[int, ...] = ()) -> Iterator[tuple[str, object]]:
    """(dotted key, resolved value) of every `_target_` in the tree under `node`, lists and nested nodes too."""
    if not isinstance(node, (DictConfig, ListConfig, dict, list)) or id(node) in above:
        return  # a leaf, or a node interpolated into itself
    for name, child in children(node):
        dotted = f"{key}.{name}" if key else str(name)
        if name == "_target_":
            yield dotted, child
        else:
            yield from targets(child, dotted, (*above, id(node)))


def children(node: DictConfig | ListConfig | dict | list) -> Iterator[tuple[object, object]]:
    """A node's (name, resolved value) pairs, leaving out those that do not resolve or have no value."""
    names = node.keys() if isinstance(node, (DictConfig, dict)) else range(len(node))
    for name in names:
        try:
            yield name, node[name]
        except OmegaConfBaseException:
            continue


def allowed(key: str, target: object) -> bool:
    """Whether a config may build `target` at `key`: convis's, a listed library's, or the user's network."""
    if not isinstance(target, str) or target in LIBRARY:
        return True  # instantiate refuses a target that is not a name
    own = target.startswith(MODULES)
    network = key.startswith(f"{NETWORK}.")
    if not (own or network):
        return False  # refused without importing anything
    try:
        found = get_object(target)
    except Exception:  # what cannot be imported cannot be built either: the run says why
        return True
    return (own and str(getattr(found, "__module__", None) or "").startswith(MODULES)) or (
        network and isinstance(found, type) and issubclass(found, nn.Module)
    )
