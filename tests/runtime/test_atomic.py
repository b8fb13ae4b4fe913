"""write_bytes is atomic: a failure (or a kill) between writing and renaming leaves the old file whole."""

import os

import pytest

from convis.runtime.writers import DiskFull, write_bytes, write_json, write_text

OLD = b"the old, complete contents\n" * 100
NEW = b"new contents that never fully arrive\n" * 100


class Killed(BaseException):
    """Stands in for SIGKILL / KeyboardInterrupt arriving inside the write."""


def files(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("fault", [OSError("rename failed"), Killed()])
def test_a_failure_before_the_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, fault):
    target = tmp_path / "metrics.json"
    target.write_bytes(OLD)
    renamed = []

    def replace(src, dst):
        renamed.append((os.path.basename(src), os.path.basename(dst)))
        assert open(src, "rb").read() == NEW  # the whole new content was in the temporary before the rename
        raise fault

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(type(fault)):
        write_bytes(NEW, target)
    assert renamed and renamed[0][1] == "metrics.json" and renamed[0][0] != "metrics.json"
    assert target.read_bytes() == OLD
    assert files(tmp_path) == ["metrics.json"]


def test_a_write_that_dies_midway_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "image.png"
    target.write_bytes(OLD)
    real_fdopen = os.fdopen

    class HalfWriter:
        """A file that writes half of what it is given, then fails (a full disk, a kill)."""

        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda *args, **kwargs: HalfWriter(real_fdopen(*args, **kwargs)))
    with pytest.raises(DiskFull, match=f"no space left on the device writing {target}"):  # one line, not OSError's
        write_bytes(NEW, target)
    assert target.read_bytes() == OLD
    assert files(tmp_path) == ["image.png"]


def test_a_new_file_never_appears_partially(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(Killed()))
    for write, data in ((write_bytes, NEW), (write_text, "text"), (write_json, {"a": 1})):
        with pytest.raises(Killed):
            write(data, tmp_path / "sub" / "fresh.out")
    assert files(tmp_path / "sub") == []


def test_the_temporary_sits_beside_the_target_hidden(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: seen.append((src, dst)) or real_replace(src, dst))
    write_bytes(NEW, tmp_path / "a.npy")
    ((src, dst),) = seen
    assert os.path.dirname(src) == os.path.dirname(dst) == str(tmp_path)  # same file system: the rename is atomic
    assert os.path.basename(src).startswith(".") and (tmp_path / "a.npy").read_bytes() == NEW
