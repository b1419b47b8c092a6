"""Damage done to disk-cache entries, and cache folders that cannot be written, for the cache's fault tests.

A read-only folder is made read-only for real: by its mode for an ordinary user, by a read-only
bind mount for root (whom modes do not stop); a full one is a tiny tmpfs. Where the machine
allows neither (root without the right to mount), those tests are skipped.
"""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest


def overwrite_json(path: Path) -> None:
    """What a torn or foreign write leaves: the start of some other JSON."""
    path.write_text('{"ids": ["x"')


def truncate(path: Path) -> None:
    """The file cut to a third of its length."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def shorten_arrays(path: Path) -> None:
    """A valid archive (.npz) or array file (.npy) holding the first third of each array."""
    if path.suffix == ".npy":
        array = np.load(path)
        np.save(path, array[: len(array) // 3])
        return
    with np.load(path) as archive:
        arrays = {name: archive[name][: len(archive[name]) // 3] for name in archive.files}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    assert zipfile.is_zipfile(path)


def remove(path: Path) -> None:
    path.unlink()


def _run(*command: str) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a folder (and everything under it) read-only until the test ends."""
    undo: list[Callable[[], object]] = []

    def make(folder: Path) -> None:
        if os.geteuid() != 0:
            for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
                path.chmod(0o555)
                undo.append(lambda p=path: p.chmod(0o755))  # type: ignore[misc]
            return
        if not _run("mount", "--bind", str(folder), str(folder)):
            pytest.skip("root without the right to mount: cannot make a read-only folder")
        undo.append(lambda: _run("umount", str(folder)))
        if not _run("mount", "-o", "remount,ro,bind", str(folder)):
            pytest.skip("cannot remount read-only")

    yield make
    for step in reversed(undo):
        step()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system of 64 KiB (a tmpfs), to fill."""
    folder = tmp_path / "tiny-disk"
    folder.mkdir()
    if os.geteuid() != 0 or not _run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)):
        pytest.skip("cannot mount a small file system here")
    try:
        yield folder
    finally:
        _run("umount", str(folder))
