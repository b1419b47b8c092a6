"""Deterministic split carving that never puts one query (or one connected pair group) in two splits."""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from hpo.data.sources import Row, read_rows
from hpo.settings.config import DataConfig, DataSource

logger = logging.getLogger(__name__)
T = TypeVar("T")


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
    record (same ``leak_keys``, by default the group keys) are dropped.
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
    held_out = {k for name in ("dev", "test") if name in records for k in leak_keys(records[name])}
    train = records["train"]
    leaked = 0
    for row, key, leak in zip(train, group_keys(train), leak_keys(train), strict=True):
        if leak in held_out:
            leaked += 1
            continue
        out[assign(key, seed, dev_fraction, test_fraction)].append(row)
    if leaked:
        logger.warning("dropped %d training rows that also occur in the dev or test split", leaked)
    return out
