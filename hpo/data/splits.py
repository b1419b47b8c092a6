"""Deterministic split carving that never puts one query (or one connected pair group) in two splits."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from typing import TypeVar

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


def sample(items: list[T], limit: int | None, seed: int) -> list[T]:
    """At most ``limit`` items, a seeded sample kept in the original order."""
    if limit is None or len(items) <= limit:
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]
