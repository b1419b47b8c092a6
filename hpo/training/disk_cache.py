"""A cache on disk shared by every worker on a machine: what a study's workers need, built once.

Each entry is a folder named by the sha256 of its key (a JSON object naming the kind of entry
and everything it depends on: the data fingerprint, a tokenizer's fingerprint, settings). The
first process that needs an entry builds it into a private temporary folder while holding the
entry's file lock, seals it with a manifest of its files (:mod:`hpo.training.cache_entry`), then
renames the folder into place (atomic on one file system); the others wait for the lock and read
the finished folder. A reader never sees a half-written entry, and a builder that dies leaves
only a temporary folder, removed by the next builder.

The cache is never a reason for a trial to fail: an entry that does not match its manifest or
does not load is set aside with one warning and rebuilt, and a cache folder that cannot be
written (read-only, full) is given up for the rest of the process with one warning, everything
then being built in the process.

Where: ``$HPO_CACHE`` if set (``off`` turns the cache off), else ``$XDG_CACHE_HOME/hpo``, else
``~/.cache/hpo``. Entries are never changed once written; delete the folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from hpo.training import cache_entry

logger = logging.getLogger(__name__)

CACHE_ENV = "HPO_CACHE"
LAYOUT = 2  # entries of another layout (before manifests) live under other names: never read
T = TypeVar("T")
_KEY_FILE = "key.json"
_VALUE_FILE = "value.json"


class Memo(Protocol):
    """Computes a JSON value once per study: ``memo(name, key, compute)``; ``key`` names what it depends on."""

    def __call__(self, name: str, key: Mapping[str, Any], compute: Callable[[], T]) -> T: ...


def no_memo(name: str, key: Mapping[str, Any], compute: Callable[[], T]) -> T:
    """A memo that keeps nothing: every call computes."""
    return compute()


class _Loaded(Generic[T]):
    """An entry's value as read (the value may itself be None)."""

    def __init__(self, value: T) -> None:
        self.value = value


class DiskCache:
    """Entries in folders under ``root``, each built once by whichever process needs it first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = cache_entry.CacheState()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> DiskCache | None:
        """The cache ``$HPO_CACHE`` names (None for ``off``), else the user's cache folder."""
        value = environ.get(CACHE_ENV, "").strip()
        if value.lower() in {"off", "none", "0", "false"}:
            return None
        if value:
            return cls(Path(value).expanduser())
        return cls.default(environ)

    @classmethod
    def default(cls, environ: Mapping[str, str] = os.environ) -> DiskCache:
        """The user's cache folder: ``$XDG_CACHE_HOME/hpo``, else ``~/.cache/hpo``."""
        base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return cls(Path(base) / "hpo")

    def folder(self, key: Mapping[str, Any]) -> Path:
        """Where the entry of ``key`` lives (it may not exist yet)."""
        text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        digest = hashlib.sha256(f"{LAYOUT}:{text}".encode()).hexdigest()
        return self.root / str(key.get("kind", "entry")) / digest[:32]

    def value(
        self,
        key: Mapping[str, Any],
        compute: Callable[[], T],
        save: Callable[[T, Path], None],
        load: Callable[[Path], T],
    ) -> T:
        """``key``'s value: ``load(folder)`` of its entry, else ``compute()``, saved by ``save(value, folder)``.

        Whatever ``load`` raises on an entry that matches its manifest counts as damage too.
        """
        if self.state.given_up is not None:
            return compute()
        final = self.folder(key)
        if final.is_dir():  # the common case: built already, read without waiting for the lock
            found = _load(final, load)
            if isinstance(found, _Loaded):
                return found.value
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            from filelock import FileLock

            lock = FileLock(str(final) + ".lock")
            lock.acquire()
        except OSError as exc:
            self.state.give_up(self.root, exc)
            return compute()
        try:
            return self._read_or_build(final, key, compute, save, load)
        finally:
            lock.release()

    def _read_or_build(
        self,
        final: Path,
        key: Mapping[str, Any],
        compute: Callable[[], T],
        save: Callable[[T, Path], None],
        load: Callable[[Path], T],
    ) -> T:
        """Under the entry's lock: the entry if whole (another process may have just built it), else built."""
        if final.is_dir():
            found = _load(final, load)
            if isinstance(found, _Loaded):
                return found.value
            try:
                cache_entry.set_aside(final, found)
            except OSError as exc:
                self.state.give_up(self.root, exc, f"damaged entry {found} cannot be set aside")
                return compute()
        value = compute()
        try:
            self._write(final, key, value, save)
        except OSError as exc:
            self.state.give_up(self.root, exc)
            return value
        logger.info("cached %s in %s", key.get("kind", "entry"), final)
        return value

    def _write(self, final: Path, key: Mapping[str, Any], value: T, save: Callable[[T, Path], None]) -> None:
        for stale in final.parent.glob(f".{final.name}.*"):  # left by a builder that died
            shutil.rmtree(stale, ignore_errors=True)
        building = final.parent / f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            building.mkdir()
            save(value, building)
            (building / _KEY_FILE).write_text(json.dumps(key, sort_keys=True, default=str), encoding="utf-8")
            cache_entry.seal(building)
            os.replace(building, final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise

    def memo(self, scope: Mapping[str, Any]) -> Memo:
        """A :class:`Memo` whose values are entries of this cache; ``scope`` joins every key (the data fingerprint)."""

        def memo(name: str, key: Mapping[str, Any], compute: Callable[[], T]) -> T:
            value: T = self.value({"kind": name, **scope, **key}, compute, _save_json, _load_json)
            return value

        return memo


def _load(folder: Path, load: Callable[[Path], T]) -> _Loaded[T] | str:
    """The entry in ``folder`` as ``load`` reads it, or what is wrong with it."""
    wrong = cache_entry.problem(folder)
    if wrong is not None:
        return wrong
    try:
        return _Loaded(load(folder))
    except Exception as exc:  # whatever a damaged entry makes a reader raise, it is only a cache
        return f"{folder}: {cache_entry.describe(exc)}"


def _save_json(value: Any, folder: Path) -> None:
    (folder / _VALUE_FILE).write_text(json.dumps(value), encoding="utf-8")


def _load_json(folder: Path) -> Any:
    return json.loads((folder / _VALUE_FILE).read_text(encoding="utf-8"))
