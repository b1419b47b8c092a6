"""Deterministic split carving that never puts one query (or one connected pair group) in two splits."""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from hpo.data.sources import Row, read_rows
from hpo.errors import DataError
from hpo.settings.config import DataConfig, DataSource

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The level of the "dropped N training rows" line. Every command that loads a study's data carves
# it again; only create-study, which makes the study, should warn. A context variable carries that
# to the carving, deep inside each task's loader, without widening every task's load_data.
_DROPPED_ROWS_LEVEL: ContextVar[int] = ContextVar("dropped_rows_level", default=logging.DEBUG)


@contextmanager
def warning_of_dropped_rows() -> Iterator[None]:
    """Within it, training rows dropped because a given dev or test split repeats them are a
    warning; elsewhere (workers, baseline, train: later loads of the same data) a DEBUG line."""
    token = _DROPPED_ROWS_LEVEL.set(logging.WARNING)
    try:
        yield
    finally:
        _DROPPED_ROWS_LEVEL.reset(token)


def normalize(text: str) -> str:
    """The dedup key of a text: case- and whitespace-insensitive."""
    return re.sub(r"\s+", " ", text).strip().lower()


def bucket(key: str, seed: int) -> float:
    """A stable number in [0, 1) for ``key``: the same on every machine and Python version."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(key: str, seed: int, dev_fraction: float, test_fraction: float) -> str:
    """'test', 'dev' or 'train' for a group key; test takes the lowest buckets."""
    value = bucket(key, seed)
    if value < test_fraction:
        return "test"
    if value < test_fraction + dev_fraction:
        return "dev"
    return "train"


def pair_group_keys(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """For each pair, a key shared by all pairs connected through a common text (union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(normalize(a)), find(normalize(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the smallest text becomes the root
    return [find(normalize(a)) for a, _ in pairs]


def pair_keys(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """For each pair, a key of the pair itself, whichever text comes first."""
    return ["\t".join(sorted((normalize(a), normalize(b)))) for a, b in pairs]


def sample(items: list[T], limit: int | None, seed: int) -> list[T]:
    """At most ``limit`` items, a seeded sample kept in the original order."""
    if limit is None or len(items) <= limit:
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def carve(
    data: DataConfig,
    seed: int,
    parse: Callable[[list[Row], str], list[T]],
    group_keys: Callable[[list[T]], list[str]],
    leak_keys: Callable[[list[T]], list[str]] | None = None,
) -> dict[str, list[T]]:
    """Read every configured split and carve dev/test from train where they are not given.

    ``parse`` turns a split's raw rows into records (``where`` names the split in errors);
    ``group_keys`` gives each record the key that keeps related records in one carved split (a
    normalized query, a connected group of pairs). Training records that repeat a dev or test
    record (same ``leak_keys``, by default the group keys) are dropped: a warning inside
    :func:`warning_of_dropped_rows` (``create-study``), a DEBUG line in later loads of the same data.
    A training split that loses every record is a DataError naming the split that repeats them.
    """
    leak_keys = leak_keys or group_keys
    sources: dict[str, DataSource | None] = {"train": data.train, "dev": data.dev, "test": data.test}
    records = {
        name: parse(read_rows(source, f"data.{name}"), f"data.{name} ({source.describe()})")
        for name, source in sources.items()
        if source is not None
    }
    dev_fraction = data.dev_fraction if data.dev is None else 0.0
    test_fraction = data.test_fraction if data.test is None else 0.0
    out: dict[str, list[T]] = {"train": [], "dev": list(records.get("dev", [])), "test": list(records.get("test", []))}
    held_out = {name: set(leak_keys(records[name])) for name in ("dev", "test") if name in records}
    train = records["train"]
    leaked = dict.fromkeys(held_out, 0)
    for row, key, leak in zip(train, group_keys(train), leak_keys(train), strict=True):
        holder = next((name for name, keys in held_out.items() if leak in keys), None)
        if holder is not None:
            leaked[holder] += 1
            continue
        out[assign(key, seed, dev_fraction, test_fraction)].append(row)
    _say_leaks(sources, {name: n for name, n in leaked.items() if n}, len(train), _DROPPED_ROWS_LEVEL.get())
    return out


def _say_leaks(sources: dict[str, DataSource | None], leaked: dict[str, int], rows: int, level: int) -> None:
    """Log the training rows dropped because a given dev or test split repeats them; a DataError
    when that was every one of them (nothing would be left to train on)."""
    if not leaked:
        return

    def split(name: str) -> str:
        source = sources[name]
        return f"data.{name} ({source.describe()})" if source is not None else f"data.{name}"

    if len(leaked) == 1:
        holders = split(next(iter(leaked)))
    else:
        holders = ", ".join(f"{split(name)}: {count}" for name, count in leaked.items())
    if sum(leaked.values()) == rows:
        names = " and ".join(f"data.{name}" for name in leaked)
        raise DataError(
            f"{split('train')}: all {rows} rows also occur in {holders}, so none is left to train on; "
            f"give a {names} without the training rows, or remove {names} to carve "
            f"{'that split' if len(leaked) == 1 else 'both splits'} from train"
        )
    logger.log(level, "dropped %d of %d training rows that also occur in %s", sum(leaked.values()), rows, holders)
