"""Mined hard negatives on disk, shared by every worker on the machine.

Mining is the same work for every trial that asks for the same settings on the same data: the
first worker mines and stores the result; the others wait for it (a file lock per key) and read
it. An entry is keyed by everything it depends on (a JSON mapping, hashed); it is written under a
temporary name and renamed, so a reader never sees half a file. The folder is ``mined/`` in the
machine's disk cache (:mod:`hpo.training.disk_cache`); deleting it only costs re-mining.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

logger = logging.getLogger(__name__)


def key_digest(key: Mapping[str, Any]) -> str:
    """A short, stable name for a key: sha256 of its canonical JSON."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class MinedCache:
    """Entries of JSON under ``directory``, one file per key, each guarded by its own lock file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def lock(self, key: Mapping[str, Any]) -> FileLock:
        """The lock of ``key``'s entry: hold it to look the entry up and, if missing, to build it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.directory / f"{key_digest(key)}.lock"))

    def load(self, key: Mapping[str, Any]) -> Any | None:
        """The stored payload of ``key``, or None when there is none (or it cannot be read)."""
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        if not isinstance(entry, dict) or entry.get("key") != json.loads(json.dumps(key)):
            return None  # another key with the same digest, or a stray file: never serve it
        return entry.get("payload")

    def store(self, key: Mapping[str, Any], payload: Any) -> None:
        """Write ``payload`` for ``key`` atomically: a temporary file in the same folder, then a rename."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"key": key, "payload": payload}, ensure_ascii=False, separators=(",", ":"))
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def folder(self, key: Mapping[str, Any]) -> Path:
        """A folder of its own for ``key`` (e.g. the miner's embedding files); hold the key's lock to write in it."""
        path = self.directory / key_digest(key)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _path(self, key: Mapping[str, Any]) -> Path:
        return self.directory / f"{key_digest(key)}.json"
