"""Verdicts between models scored on the same items: every comparison hpo prints or stores.

A verdict compares the item scores (:mod:`hpo.stats.item_scores`) of a candidate and a reference with
the paired bootstrap of :mod:`hpo.stats.significance`, on the study's metric and with the config's
``significance`` settings; the task says how its metric is computed from item scores. Two
records scored on different items (another split, another corpus, other data) get no verdict,
and the row says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.stats.item_scores import ItemScores
from hpo.stats.significance import Comparison, bootstrap_metric, bootstrap_runs

if TYPE_CHECKING:
    from hpo.settings.config import StudyConfig
    from hpo.training.task import Task


class NotComparableError(ValueError):
    """Two records that cannot be compared item by item."""


@dataclass(frozen=True)
class VerdictRow:
    """One comparison as shown: who against whom, on which split, metric and corpus, and the result."""

    candidate: str
    reference: str
    split: str
    metric: str
    corpus: str
    comparison: Comparison | None
    reason: str = ""  # why there is no comparison

    def describe(self) -> str:
        """One line, e.g. ``tuned vs base (zero-shot), test ndcg@10 on full (...): +0.0213 [...] WIN, 324 items``."""
        head = f"{self.candidate} vs {self.reference}, {self.split} {self.metric} on {self.corpus}"
        if self.comparison is None:
            return f"{head}: no verdict ({self.reason})"
        return f"{head}: {self.comparison.describe()}, {self.comparison.n} items"

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "candidate": self.candidate,
            "reference": self.reference,
            "split": self.split,
            "metric": self.metric,
            "corpus": self.corpus,
        }
        return {**row, **(self.comparison.to_dict() if self.comparison else {"verdict": None, "reason": self.reason})}


def compare(
    task: Task[Any], candidate: ItemScores, reference: ItemScores, metric: str, config: StudyConfig
) -> Comparison:
    """The candidate's gain over the reference on ``metric``; NotComparableError when the items differ."""
    return compare_runs(task, [candidate], [reference], metric, config)


def compare_runs(
    task: Task[Any],
    candidate: Sequence[ItemScores],
    reference: Sequence[ItemScores],
    metric: str,
    config: StudyConfig,
) -> Comparison:
    """Compare two configs from their runs (one per seed), all scored on the same items."""
    runs = [*candidate, *reference]
    if any(run.items != runs[0].items for run in runs):
        raise NotComparableError("scored on different items (another split, corpus or data)")
    try:
        rows = [task.item_rows(run, metric) for run in runs]
    except (KeyError, ValueError) as exc:
        raise NotComparableError(str(exc).strip("'")) from None
    function = rows[0][0]
    settings = config.significance
    options: dict[str, Any] = {
        "min_gain": settings.min_gain,
        "resamples": settings.resamples,
        "confidence": settings.confidence,
        "seed": config.seed,
        "maximize": config.direction == "maximize",
    }
    values = [r for _, r in rows]
    if len(candidate) == 1 and len(reference) == 1:
        return bootstrap_metric(function, values[0], values[1], **options)
    return bootstrap_runs(function, values[: len(candidate)], values[len(candidate) :], **options)


def verdict_row(
    task: Task[Any],
    config: StudyConfig,
    candidate: tuple[str, ItemScores | None],
    reference: tuple[str, ItemScores | None],
    split: str,
    corpus: str,
) -> VerdictRow:
    """A labelled comparison of two (label, item scores) on the study's metric; a reason when there is none."""
    metric = config.metric_name
    (candidate_label, candidate_items), (reference_label, reference_items) = candidate, reference
    row = VerdictRow(candidate_label, reference_label, split, metric, corpus, None)
    if candidate_items is None or reference_items is None:
        missing = [label for label, items in (candidate, reference) if items is None]
        return VerdictRow(**{**row.__dict__, "reason": f"no item scores kept for {' and '.join(missing)}"})
    try:
        comparison = compare(task, candidate_items, reference_items, metric, config)
    except ValueError as exc:  # NotComparableError, or a metric undefined on these items
        return VerdictRow(**{**row.__dict__, "reason": str(exc)})
    return VerdictRow(**{**row.__dict__, "comparison": comparison})
