"""Mined hard negatives on disk, shared by every worker on the machine.

Mining is the same work for every trial that asks for the same settings on the same data: the
first worker mines and stores the result; the others wait for it (a file lock per key) and read
it. An entry is keyed by everything it depends on (a JSON mapping, hashed); it is written under a
temporary name and renamed, so a reader never sees half a file. The folder is ``mined/`` in the
machine's disk cache (:mod:`hpo.training.disk_cache`); deleting it only costs re-mining.

Like the rest of the disk cache, it is never a reason for a run to fail: an entry carries the
digest of its payload, and a folder of the dense miner's embeddings a manifest of its files
(:mod:`hpo.training.cache_entry`); a damaged one is set aside with one warning and mined again,
and a folder that cannot be written is given up with one warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hpo.training import cache_entry

logger = logging.getLogger(__name__)

FORMAT = 2  # entries carry the sha256 of their payload; those of another format are mined again, silently
T = TypeVar("T")


def key_digest(key: Mapping[str, Any]) -> str:
    """A short, stable name for a key: sha256 of its canonical JSON."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class MinedCache:
    """Entries of JSON under ``directory``, one file per key, each guarded by its own lock file.

    ``state`` is shared with the disk cache the folder belongs to, so that a cache that cannot be
    written is given up (and warned about) once.
    """

    def __init__(self, directory: Path, state: cache_entry.CacheState | None = None) -> None:
        self.directory = directory
        self.state = state or cache_entry.CacheState()

    @contextmanager
    def lock(self, key: Mapping[str, Any]) -> Iterator[None]:
        """Hold ``key``'s lock to look the entry up and, if missing, to build it (no lock once given up)."""
        held = None
        if self.state.given_up is None:
            from filelock import FileLock

            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                held = FileLock(str(self.directory / f"{key_digest(key)}.lock"))
                held.acquire()
            except OSError as exc:
                held = None
                self.state.give_up(self.directory, exc)
        try:
            yield
        finally:
            if held is not None:
                held.release()

    def load(self, key: Mapping[str, Any], parse: Callable[[Any], T] = lambda payload: payload) -> T | None:
        """``parse(payload)`` of ``key``'s stored payload, or None when there is none (a damaged one is set aside)."""
        path = self._path(key)
        if self.state.given_up is not None:
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._set_aside(path, f"{path}: unreadable ({cache_entry.describe(exc)})")
            return None
        wrong, value = _read(text, key, parse)
        if wrong:
            self._set_aside(path, f"{path}: {wrong}")
        return value

    def store(self, key: Mapping[str, Any], payload: Any) -> None:
        """Write ``payload`` for ``key`` atomically: a temporary file in the same folder, then a rename."""
        if self.state.given_up is not None:
            return
        path = self._path(key)
        entry = {"format": FORMAT, "key": key, "sha256": cache_entry.payload_digest(payload), "payload": payload}
        text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, path)
        except OSError as exc:
            self.state.give_up(self.directory, exc)
        finally:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)

    def embeddings_folder(self, key: Mapping[str, Any]) -> tuple[Path | None, bool]:
        """A folder of its own for ``key``'s files (the miner's embeddings) and whether it holds a sealed set.

        Hold the key's lock while using it, and :meth:`seal` it after writing. Files of a writer that
        died (no manifest, or not in it) are removed; a folder whose files differ from its manifest
        is set aside. None when the cache is given up.
        """
        if self.state.given_up is not None:
            return None, False
        path = self.directory / key_digest(key)
        try:
            if path.is_dir() and (path / cache_entry.MANIFEST).exists():
                wrong = cache_entry.problem(path)
                if wrong is None:
                    _remove_unlisted(path, cache_entry.listed(path) or set())
                    return path, True
                cache_entry.set_aside(path, wrong)
            path.mkdir(parents=True, exist_ok=True)
            _remove_unlisted(path, set())
        except OSError as exc:
            self.state.give_up(self.directory, exc)
            return None, False
        return path, False

    def seal(self, folder: Path | None) -> None:
        """Record the files of ``folder`` (from :meth:`embeddings_folder`) as a whole set."""
        if folder is None or self.state.given_up is not None:
            return
        try:
            cache_entry.seal(folder)
        except OSError as exc:
            self.state.give_up(self.directory, exc)

    def _set_aside(self, path: Path, what: str) -> None:
        try:
            cache_entry.set_aside(path, what)
        except OSError as exc:
            self.state.give_up(self.directory, exc, f"damaged entry {what} cannot be set aside")

    def _path(self, key: Mapping[str, Any]) -> Path:
        return self.directory / f"{key_digest(key)}.json"


def _read(text: str, key: Mapping[str, Any], parse: Callable[[Any], T]) -> tuple[str, T | None]:
    """What is wrong with an entry's ``text`` ("" when nothing or when it is simply not ``key``'s), and its value."""
    try:
        entry = json.loads(text)
    except ValueError as exc:
        return f"not JSON ({cache_entry.describe(exc)})", None
    if isinstance(entry, dict) and "format" not in entry and {"key", "payload"} <= set(entry):
        return "", None  # an entry of the first format (no digest): mined again and replaced
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        return f"not a mined-negatives entry of format {FORMAT}", None
    if entry.get("key") != json.loads(json.dumps(key)):
        return "", None  # another key with the same digest, or a stray file: never serve it
    payload = entry.get("payload")
    if entry.get("sha256") != cache_entry.payload_digest(payload):
        return "its payload does not match its sha256", None
    try:
        return "", parse(payload)
    except Exception as exc:  # whatever a damaged payload makes its reader raise, it is only a cache
        return cache_entry.describe(exc), None


def _remove_unlisted(folder: Path, keep: set[str]) -> None:
    """Remove the files in ``folder`` that its manifest does not list: left by a writer that died."""
    for path in folder.iterdir():
        if path.is_file() and path.name != cache_entry.MANIFEST and path.name not in keep:
            path.unlink()
