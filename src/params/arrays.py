"""Arrays a user gives as .npy files (a MACO spectrum, a direction): finite real numbers, or a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from convis.runtime.errors import ConvisError
from convis.runtime.finite import non_finite

REAL = "iuf"  # numpy's kinds of signed, unsigned and floating-point numbers


def read_numbers(path: str | Path, key: str, wants: str) -> torch.Tensor:
    """The float32 values of the .npy file given as `key`=`path`, checked before any work is done with them.

    A file that cannot be read, or holds text, complex numbers (whose imaginary part would be dropped), NaN or
    Inf (also where a float64 value overflows float32), is a ConvisError naming the file and `wants`.
    """
    try:
        array = np.load(Path(path).expanduser(), allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ConvisError(f"{key}={path} is not a readable .npy file ({err}): give {wants}") from err
    if not isinstance(array, np.ndarray):
        raise ConvisError(f"{key}={path} is a .npz archive, not one array: give {wants}")
    if array.dtype.kind not in REAL:
        raise ConvisError(f"{key}={path} holds {array.dtype} values, not real numbers: give {wants}")
    with np.errstate(over="ignore"):  # a value past float32's range becomes Inf, refused below
        values = torch.from_numpy(array.astype(np.float32))
    found = non_finite(values)
    if found is not None:
        raise ConvisError(f"{key}={path} holds {found}: give {wants}")
    return values
