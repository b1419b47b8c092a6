"""One model's score on each item (query, pair) of one evaluation split, small enough for a trial record.

A metric such as NDCG@10 is a mean over queries; average precision or a correlation is computed
from every pair's similarity and gold value. Keeping these item scores lets any two models scored
on the same items be compared with a paired bootstrap (:mod:`hpo.stats.significance`) long after they
were evaluated, from the study alone.

Stored form (:meth:`ItemScores.to_record`): each vector is quantized to 16 bits between its own
minimum and maximum and written as base64, about 2.7 characters per item: a 279-query dev set
takes under 1 kB per metric, 3,000 pairs about 8 kB each for the similarities and the gold. The
rounding error is under 1/131,070 of the vector's range, far below any difference worth a verdict.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpo.stats.weighted_metrics import Array

_LEVELS = 65535


@dataclass(frozen=True)
class ItemScores:
    """Per-item scores of one model on one split.

    ``items`` is a digest of what was scored (the items, their gold values and, for retrieval, the
    corpus): two records pair up only when their digests are equal. ``scores`` holds a per-item
    value by metric (retrieval: ``ndcg@10`` -> each query's NDCG@10). Pair tasks keep instead the
    model's ``similarity`` for each pair and the ``gold`` label or score, from which every pair
    metric can be recomputed, and the decision ``thresholds`` (by metric) chosen on this split.
    """

    items: str
    scores: dict[str, Array] = field(default_factory=dict)
    similarity: Array | None = None
    gold: Array | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        if self.similarity is not None:
            return len(self.similarity)
        return len(next(iter(self.scores.values()))) if self.scores else 0

    def only(self, metrics: Iterable[str]) -> ItemScores:
        """The same record with the per-item vectors of ``metrics`` only (pair rows are always kept)."""
        wanted = set(metrics)
        return ItemScores(
            self.items,
            {k: v for k, v in self.scores.items() if k in wanted},
            self.similarity,
            self.gold,
            self.thresholds,
        )

    def to_record(self) -> dict[str, Any]:
        """JSON-ready and compact (see the module docstring)."""
        record: dict[str, Any] = {"items": self.items, "n": self.n}
        if self.scores:
            record["scores"] = {metric: _pack(values) for metric, values in self.scores.items()}
        if self.similarity is not None:
            record["similarity"] = _pack(self.similarity)
        if self.gold is not None:
            record["gold"] = _pack(self.gold)
        if self.thresholds:
            record["thresholds"] = {k: float(v) for k, v in self.thresholds.items()}
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ItemScores:
        """Read a record written by :meth:`to_record`; ValueError when it is not one."""
        try:
            n = int(record["n"])
            return cls(
                items=str(record["items"]),
                scores={str(k): _unpack(v, n) for k, v in record.get("scores", {}).items()},
                similarity=_unpack(record["similarity"], n) if "similarity" in record else None,
                gold=_unpack(record["gold"], n) if "gold" in record else None,
                thresholds={str(k): float(v) for k, v in record.get("thresholds", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a record of item scores: {type(exc).__name__}: {exc}") from None


def read_record(record: Any) -> ItemScores | None:
    """The item scores of a stored record, or None when there is none (older trials) or it is unreadable."""
    if not isinstance(record, Mapping):
        return None
    try:
        return ItemScores.from_record(record)
    except ValueError:
        return None


def digest(payload: Any) -> str:
    """A short digest of JSON-ready ``payload``: what a set of items is, for pairing records."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _pack(values: Array) -> dict[str, Any]:
    array = np.asarray(values, dtype=np.float64)
    if array.size and not np.isfinite(array).all():
        raise ValueError("item scores must be finite numbers")
    low = float(array.min()) if array.size else 0.0
    high = float(array.max()) if array.size else 0.0
    span = high - low
    levels = np.zeros(array.shape, dtype="<u2") if span == 0 else np.rint((array - low) / span * _LEVELS)
    return {"lo": low, "hi": high, "q": base64.b64encode(levels.astype("<u2").tobytes()).decode("ascii")}


def _unpack(packed: Mapping[str, Any], n: int) -> Array:
    levels = np.frombuffer(base64.b64decode(packed["q"]), dtype="<u2")
    if len(levels) != n:
        raise ValueError(f"expected {n} values, found {len(levels)}")
    low, high = float(packed["lo"]), float(packed["hi"])
    result: Array = low + levels.astype(np.float64) / _LEVELS * (high - low)
    return result
