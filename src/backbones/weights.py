"""Loading a backbone's weights: torchvision's pretrained enums, random init, or a file."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import torch
from torch import nn
from torchvision.models import get_model_weights

from convis.runtime.errors import ConvisError


def looks_like_path(weights: str) -> bool:
    """A weights value names a file (rather than a torchvision enum) when it has a path shape."""
    return "/" in weights or "\\" in weights or Path(weights).suffix != "" or Path(weights).exists()


def weights_enum(arch: str, name: str):
    """The torchvision weights enum member `name` of `arch`, e.g. IMAGENET1K_V1."""
    enum = get_model_weights(arch)
    valid = [w.name for w in enum]
    if name not in valid:
        raise ConvisError(
            f"unknown backbone.weights={name!r} for {arch}: use one of {valid + ['DEFAULT']}, "
            "null (random init) or a path to a state-dict file"
        )
    return enum[name]


def pretrained_state_dict(arch: str, name: str) -> dict[str, torch.Tensor]:
    """torchvision's pretrained weights from its cache, downloading them when a network exists."""
    member = weights_enum(arch, name) if name != "DEFAULT" else get_model_weights(arch).DEFAULT
    try:
        return member.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except (URLError, OSError) as err:
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        file = member.url.rsplit("/", 1)[-1]
        raise ConvisError(
            f"pretrained weights {arch} {member.name} are not cached and could not be downloaded "
            f"({err}): place {file} in {cache} (scripts/download_weights.py fetches it), "
            "or set backbone.weights=/path/to/state_dict.pth, or backbone.weights=null for random init"
        ) from err


def file_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """A state dict read from a file with weights_only=True, and a finetune checkpoint's metadata.

    A Lightning checkpoint's `state_dict` is unwrapped. A finetune checkpoint carries
    `convis = {"arch", "classes", "prefix"}`: its keys lose the module's `prefix`.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConvisError(f"weights file not found: {path} (give an existing file, or backbone.weights=null)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several unrelated types for bad files
        if "unsupported global" in str(err).lower():
            raise ConvisError(
                f"weights file {path} holds objects other than tensors; convis loads with "
                "weights_only=True and runs no code from a weights file: save model.state_dict() instead"
            ) from err
        raise ConvisError(f"weights file {path} is not a readable PyTorch file ({_reason(err)})") from err
    meta = _finetune_meta(state, path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if meta is not None:
        prefix = meta["prefix"]
        state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConvisError(f"weights file {path} is not a state dict (a mapping of names to tensors)")
    return state, meta


def _reason(err: Exception) -> str:
    """torch's specific complaint about a file, without its advice to load with weights_only=False."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    specific = [line for line in lines if "error" in line.lower() and "weights_only" not in line]
    return (specific or lines or [type(err).__name__])[-1][:200]


def _finetune_meta(checkpoint: object, path: Path) -> dict | None:
    """The `convis` entry a finetune checkpoint carries (arch, class names, key prefix), if any."""
    meta = checkpoint.get("convis") if isinstance(checkpoint, dict) else None
    if meta is None:
        return None
    fields = {"arch": str, "prefix": str, "classes": list}
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k), t) for k, t in fields.items()):
        raise ConvisError(f"weights file {path} has a malformed convis entry; re-run objective=finetune to rewrite it")
    return meta


def strip_prefix(state: dict[str, torch.Tensor], keys: set[str]) -> dict[str, torch.Tensor]:
    """`state` without the attribute prefix a LightningModule adds (`model.`, `net.`...) when that makes it fit."""
    if set(state) == keys:
        return state
    for prefix in {key.split(".", 1)[0] + "." for key in state if "." in key}:
        stripped = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        if set(stripped) == keys:
            return stripped
    return state


def load_into(model: nn.Module, state: dict[str, torch.Tensor], arch: str, source: str) -> None:
    """Load `state` into `model`, failing with a one-line summary when it is for another network."""
    own = model.state_dict()
    state = strip_prefix(state, set(own))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or mismatched:
        detail = ", ".join(
            f"{len(keys)} {what} (e.g. {keys[0]})"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched))
            if keys
        )
        raise ConvisError(f"weights {source} do not fit backbone {arch}: {detail}; is it for another architecture?")
    model.load_state_dict(state)
