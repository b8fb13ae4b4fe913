"""Loading a backbone's weights: torchvision's pretrained enums, random init, or a file."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from urllib.error import URLError

import torch
from torch import nn
from torchvision.models import get_model_weights

from convis.runtime.errors import ConvisError
from convis.runtime.finite import require_finite_weights


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

    A Lightning checkpoint's `state_dict` (or a training loop's `model_state_dict` or `model`) is unwrapped.
    A finetune checkpoint carries `convis = {"arch", "classes", "prefix"}`: its keys lose the module's `prefix`.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConvisError(f"weights file not found: {path} (give an existing file, or backbone.weights=null)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several unrelated types for bad files
        if "unsupported global" in str(err).lower():
            raise ConvisError(_not_weights_only(path, err)) from err
        raise ConvisError(f"weights file {path} is not a readable PyTorch file ({_reason(err)})") from err
    meta = _finetune_meta(state, path)
    state = _unwrapped(state)
    if meta is not None:
        prefix = meta["prefix"]
        state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConvisError(
            f"weights file {path} is not a state dict (a mapping of names to tensors): "
            "save one with torch.save(model.state_dict(), PATH)"
        )
    return state, meta


WRAPPERS = ("state_dict", "model_state_dict", "model")  # where checkpoints keep the model's weights


def _unwrapped(checkpoint: object) -> object:
    """The model's state dict inside a checkpoint dict (Lightning's, a training loop's), else the file as read."""
    if not isinstance(checkpoint, dict) or all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    for key in WRAPPERS:
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def _not_weights_only(path: Path, err: Exception) -> str:
    """The fix for a file weights_only=True refuses: a whole pickled model, or other objects with code."""
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    named = f" ({found.group(1)})" if found else ""
    if _pickled_module(path):
        return (
            f"weights file {path} is a whole pickled model{named}, which convis never unpickles (that runs code "
            f"from the file): where it was saved, save its weights instead, torch.save(model.state_dict(), "
            f"'{path.name}'), and give that file"
        )
    return (
        f"weights file {path} holds objects other than tensors{named}; convis loads with weights_only=True and "
        "runs no code from a weights file: save model.state_dict() instead"
    )


def _pickled_module(path: Path) -> bool:
    """Whether the file's pickle describes an nn.Module (its attribute dict), read as bytes, never unpickled."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            data = archive.read(name) if name else b""
    except (zipfile.BadZipFile, OSError):
        data = path.read_bytes()[: 1 << 20]  # torch's legacy format: the pickle comes first
    return b"_modules" in data and b"_parameters" in data


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


BN_COUNT = "num_batches_tracked"  # BatchNorm's step counter, which some saved state dicts leave out


def _core(keys: object) -> set[str]:
    return {key for key in keys if not key.endswith(BN_COUNT)}


def strip_prefix(state: dict[str, torch.Tensor], keys: set[str]) -> dict[str, torch.Tensor]:
    """`state` without a wrapper's key prefix when that makes it fit `keys` better.

    DataParallel and DDP add `module.`, a LightningModule its attribute's name (`model.`, `net.`), and
    wrappers nest (`module.model.`, `model.net.`): the prefix (up to three parts) that leaves the most
    keys of `keys` wins; keys without it (a loss's buffers beside the model) are dropped.
    """
    wanted = _core(keys)
    if _core(state) == wanted:
        return state
    best, score = state, len(_core(state) & wanted)
    prefixes = {".".join(key.split(".")[:depth]) + "." for key in state for depth in (1, 2, 3)}
    for prefix in sorted(prefixes, key=len):
        stripped = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        fit = len(_core(stripped) & wanted)
        if fit > score:
            best, score = stripped, fit
    return best


def _shape(tensor: torch.Tensor) -> str:
    return str(list(tensor.shape))


def misfit(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], arch: str, source: str) -> str | None:
    """Why `state` does not fit a model whose state dict is `own`: counts and the first key that differs."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and own[k].shape != state[k].shape]
    if not (missing or unexpected or mismatched):
        return None
    counts = ", ".join(
        f"{len(keys)} {what}"
        for what, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("mismatched shapes", mismatched),
        )
        if keys
    )
    differing = {*missing, *mismatched}
    first = next((k for k in own if k in differing), None)
    if first is None:
        detail = f"{source} has {unexpected[0]}, which {arch} has not"
    elif first in missing:
        detail = f"{first} of {arch} is missing from {source}"
    else:
        detail = f"{first} is {_shape(state[first])} in {source} but {_shape(own[first])} in {arch}"
    return f"{counts}; first: {detail}"


def load_into(model: nn.Module, state: dict[str, torch.Tensor], arch: str, source: str, file: bool = True) -> None:
    """Load `state` into `model`, or fail with one line: the counts of keys that differ and the first, or a
    tensor holding NaN or Inf.

    A wrapper's key prefix is stripped and BatchNorm's `num_batches_tracked`, where the file lacks it, kept as is.
    """
    own = model.state_dict()
    state = strip_prefix(state, set(own))
    state = {k: v for k, v in state.items() if k in own or not k.endswith(BN_COUNT)}
    state |= {k: v for k, v in own.items() if k.endswith(BN_COUNT) and k not in state}
    what = f"weights file {source}" if file else f"weights {source}"
    problem = misfit(own, state, arch, source)
    if problem is not None:
        raise ConvisError(f"{what} do not fit backbone {arch}: {problem}; is it for another architecture?")
    require_finite_weights(state, what)
    model.load_state_dict(state)
