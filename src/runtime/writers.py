"""Writing a run's files (PNG, JSON, text, .npy, figures) atomically, under safe names."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from convis.runtime.errors import ConvisError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left; the user's quota spent


class DiskFull(ConvisError):
    """No space left on the device (or the user's quota spent) writing `path`: the run stops there."""

    def __init__(self, path: object, written: list[str] | None = None) -> None:
        done = "" if written is None else f"; already written: {', '.join(written) or 'nothing'}"
        where = "" if path is None else f" writing {path}"
        super().__init__(f"no space left on the device{where}{done}; free some space and run again")
        self.path = path


def is_full(err: BaseException) -> bool:
    """Whether `err` is the system's no-space-left (or quota) error."""
    return isinstance(err, OSError) and err.errno in FULL


@contextmanager
def full_disk_listed(folder: str | Path) -> Iterator[None]:
    """A DiskFull raised in the block, or a library's own no-space-left OSError, says what `folder` held by then."""
    try:
        yield
    except DiskFull as err:
        raise DiskFull(err.path, listing(folder)) from err.__cause__
    except OSError as err:
        if not is_full(err):
            raise
        raise DiskFull(err.filename, listing(folder)) from err


class LogFile(logging.FileHandler):
    """A log file that, when it cannot be written (a full disk), says so once in one line on stderr instead of
    printing Python's logging traceback at every line; the console keeps the lines."""

    reported = False

    def handleError(self, record: logging.LogRecord) -> None:
        if self.reported:
            return
        self.reported = True
        reason = sys.exc_info()[1]
        print(
            f"convis: warning: cannot write the log file {self.baseFilename} ({reason}): its later lines are lost",
            file=sys.stderr,
        )


def quiet_log_files() -> None:
    """Make the root logger's plain file handlers (Hydra's run.log) LogFiles."""
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.FileHandler:
            handler.__class__ = LogFile


def safe_name(text: str) -> str:
    """A file-name stem from user input: no separators, no leading dots, nothing outside [A-Za-z0-9._-]."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).lstrip(".")
    return cleaned[:120] or "unnamed"


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write `data` to `path` atomically: readers see the old file or the whole new one, never a part.

    The content is ready in memory before the file is touched, so the only window in which a kill
    leaves a hidden temporary file beside `path` is one write call and a rename.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to any new file
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if is_full(err):
            raise DiskFull(path) from err
        raise
    return path


def listing(folder: str | Path) -> list[str]:
    """What `folder` holds, for a message: its files, and its folders with how many files each (not hidden ones)."""
    entries = sorted(p for p in Path(folder).iterdir() if not p.name.startswith(".")) if Path(folder).is_dir() else []
    shown = []
    for entry in entries:
        if entry.is_dir():
            count = sum(1 for p in entry.rglob("*") if p.is_file() and not p.name.startswith("."))
            shown.append(f"{entry.name}/ ({count} file{'s' * (count != 1)})")
        else:
            shown.append(entry.name)
    return shown


def write_text(text: str, path: str | Path) -> Path:
    """Write `text` as UTF-8, atomically."""
    return write_bytes(text.encode("utf-8"), path)


def to_pil(image: torch.Tensor) -> Image.Image:
    """A [3, H, W] (or grayscale [1, H, W]) image with values in [0, 1] as an 8-bit RGB picture."""
    array = (
        (image.detach().float().cpu().clamp(0, 1).expand(3, -1, -1) * 255)
        .round()
        .to(torch.uint8)
        .permute(1, 2, 0)
        .numpy()
    )
    return Image.fromarray(np.ascontiguousarray(array))


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Save a [3, H, W] (or grayscale [1, H, W]) image with values in [0, 1] as an 8-bit RGB PNG."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return write_bytes(buffer.getvalue(), path)


def write_json(data: Any, path: str | Path) -> Path:
    """Write `data` as indented JSON."""
    return write_text(json.dumps(data, indent=2, default=str), path)


def write_npy(array: np.ndarray, path: str | Path) -> Path:
    """Save an array as .npy, atomically."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return write_bytes(buffer.getvalue(), path)


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Save a matplotlib figure as a PNG, atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=100, format="png")
    return write_bytes(buffer.getvalue(), path)
