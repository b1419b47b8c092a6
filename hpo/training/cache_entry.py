"""What lets a disk-cache entry be checked before it is used, and what is done with one that fails.

A cache entry is only ever a shortcut: one cut short, overwritten or missing a file must cost a
rebuild, never a trial. A folder entry lists each of its files with its size and sha256 in a
manifest written last (:func:`seal`); :func:`problem` checks the files against it, naming the
first file that differs. A single-file entry carries the digest of its own payload
(:func:`payload_digest`). A damaged entry is renamed aside (:func:`set_aside`), never deleted: it
is what someone may want to look at, and the next build takes its place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class CacheState:
    """Whether a cache folder is still used by this process: given up, with one warning, once it cannot be written."""

    def __init__(self) -> None:
        self.given_up: str | None = None  # why, once given up

    def give_up(self, root: Path, error: OSError, what: str = "") -> None:
        """Stop using the cache under ``root`` for the rest of the process; warns the first time only."""
        if self.given_up is not None:
            return
        self.given_up = f"{what}: {describe(error)}" if what else describe(error)
        logger.warning("disk cache %s cannot be written (%s): not used by this process", root, self.given_up)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def payload_digest(payload: Any) -> str:
    """sha256 of ``payload``'s canonical JSON: what a single-file entry stores beside its payload."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def seal(folder: Path, only: set[str] | None = None) -> None:
    """Write ``folder``'s manifest (size and sha256 of each file in it, or of those named in ``only``).

    Written under a temporary name and renamed: a manifest is whole or absent.
    """
    files = {
        path.name: {"size": path.stat().st_size, "sha256": file_digest(path)}
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != MANIFEST and not path.name.startswith(".")
        if only is None or path.name in only
    }
    temporary = folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    temporary.write_text(json.dumps({"files": files}, sort_keys=True), encoding="utf-8")
    os.replace(temporary, folder / MANIFEST)


def listed(folder: Path) -> set[str] | None:
    """The files ``folder``'s manifest lists; None when it has no readable manifest."""
    try:
        return set(_manifest(folder))
    except (OSError, ValueError):
        return None


def problem(folder: Path) -> str | None:
    """What is wrong with the entry in ``folder`` ("FILE: what"), or None when every listed file is as sealed."""
    try:
        files = _manifest(folder)
    except FileNotFoundError:
        return f"{folder / MANIFEST}: missing"
    except (OSError, ValueError) as exc:
        return f"{folder / MANIFEST}: unreadable ({describe(exc)})"
    for name, expected in files.items():
        path = folder / name
        try:
            size = path.stat().st_size
            if size != expected["size"]:
                return f"{path}: {size} bytes, the manifest says {expected['size']}"
            if file_digest(path) != expected["sha256"]:
                return f"{path}: its sha256 differs from the manifest's"
        except FileNotFoundError:
            return f"{path}: missing"
        except OSError as exc:
            return f"{path}: unreadable ({describe(exc)})"
    return None


def set_aside(path: Path, what: str) -> Path:
    """Rename the damaged entry ``path`` (a file or folder) aside, with one warning; where it now is.

    Raises OSError when it cannot be renamed (a read-only cache): then nothing is logged here.
    """
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")
    os.replace(path, aside)
    logger.warning("damaged disk-cache entry %s; set aside as %s and rebuilt", what, aside.name)
    return aside


def describe(error: BaseException) -> str:
    """An error in one short line: its type and the first line of its message."""
    return f"{type(error).__name__}: {_short(error)}"


def _manifest(folder: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
        for v in files.values()
    ):
        raise ValueError("not a manifest of files with a size and a sha256")
    return files


def _short(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
