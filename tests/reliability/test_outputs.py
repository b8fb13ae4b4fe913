"""Writers leave the old file or the whole new one, never a part; names from user input stay in the run directory."""

import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from convis.runtime.stops import AtomicCheckpointIO
from convis.runtime.writers import safe_name, write_json, write_npy, write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = write_text("old", tmp_path / "history.csv")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_json({"new": 1}, path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_new_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    mode = stat.S_IMODE(write_text("x", tmp_path / "a.txt").stat().st_mode)
    assert mode == 0o666 & ~umask  # as open() would give, not a temporary file's 0600


def test_npy_maps_round_trip(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(np.load(write_npy(array, tmp_path / "maps" / "cat.npy")), array)


def test_checkpoints_are_written_beside_their_target(tmp_path, monkeypatch):
    # Lightning's own writer goes through the system's temp folder: here that is a file, so it would fail
    (tmp_path / "not_a_folder").touch()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "not_a_folder"))
    AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(3)}, tmp_path / "checkpoints" / "last.ckpt")
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt")["step"] == 3


@given(st.text())
def test_a_name_from_user_input_stays_inside_the_run_directory(text):
    root = Path("/run/images")
    name = safe_name(text)
    assert (root / f"{name}.png").resolve().parent == root and not name.startswith(".") and "/" not in name
