"""A cache on disk shared by every worker on a machine: what a study's workers need, built once.

Each entry is a folder named by the sha256 of its key (a JSON object naming the kind of entry
and everything it depends on: the data fingerprint, a tokenizer's fingerprint, settings). The
first process that needs an entry builds it into a private temporary folder while holding the
entry's file lock, then renames the folder into place (atomic on one file system); the others
wait for the lock and read the finished folder. A reader never sees a half-written entry, and a
builder that dies leaves only a temporary folder, removed by the next builder.

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
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)

CACHE_ENV = "HPO_CACHE"
T = TypeVar("T")
_KEY_FILE = "key.json"
_VALUE_FILE = "value.json"


class Memo(Protocol):
    """Computes a JSON value once per study: ``memo(name, key, compute)``; ``key`` names what it depends on."""

    def __call__(self, name: str, key: Mapping[str, Any], compute: Callable[[], T]) -> T: ...


def no_memo(name: str, key: Mapping[str, Any], compute: Callable[[], T]) -> T:
    """A memo that keeps nothing: every call computes."""
    return compute()


class DiskCache:
    """Entries in folders under ``root``, each built once by whichever process needs it first."""

    def __init__(self, root: Path) -> None:
        self.root = root

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
        digest = hashlib.sha256(text.encode()).hexdigest()
        return self.root / str(key.get("kind", "entry")) / digest[:32]

    def entry(self, key: Mapping[str, Any], build: Callable[[Path], None]) -> Path:
        """The folder of ``key``'s entry, built by ``build(folder)`` unless a process already built it."""
        from filelock import FileLock

        final = self.folder(key)
        if final.is_dir():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(final) + ".lock"):
            if final.is_dir():  # built by another process while this one waited
                return final
            for stale in final.parent.glob(f".{final.name}.*"):  # left by a builder that died
                shutil.rmtree(stale, ignore_errors=True)
            building = final.parent / f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
            building.mkdir()
            try:
                build(building)
                (building / _KEY_FILE).write_text(json.dumps(key, sort_keys=True, default=str), encoding="utf-8")
                os.replace(building, final)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
        logger.info("cached %s in %s", key.get("kind", "entry"), final)
        return final

    def memo(self, scope: Mapping[str, Any]) -> Memo:
        """A :class:`Memo` whose values are entries of this cache; ``scope`` joins every key (the data fingerprint)."""

        def memo(name: str, key: Mapping[str, Any], compute: Callable[[], T]) -> T:
            result: list[T] = []

            def build(folder: Path) -> None:
                result.append(compute())
                (folder / _VALUE_FILE).write_text(json.dumps(result[0]), encoding="utf-8")

            folder = self.entry({"kind": name, **scope, **key}, build)
            if result:
                return result[0]
            value: T = json.loads((folder / _VALUE_FILE).read_text(encoding="utf-8"))
            return value

        return memo
