"""Is a candidate model better than a reference on the same items? A paired bootstrap answers.

Both models are scored on the same items (queries, pairs). Each resample draws items with
replacement and scores both models on that same draw, so the interval reflects the difference
between the models rather than how hard the items are. Positive always means the candidate is
better: for a metric where lower is better, pass ``maximize=False``.

The interval holds the central ``confidence`` share of the resampled differences (a percentile
interval); with few items, a few dozen or less, it comes out too narrow. ``min_gain`` is the
smallest difference, in the metric's units, worth a WIN: a gain the interval puts above 0 but
smaller than ``min_gain`` is MARGINAL, real but too small to act on. The functions here default to
0 (any sure gain wins); a study's verdicts use ``significance.min_gain`` of its config, which
defaults to :data:`hpo.settings.config.DEFAULT_MIN_GAIN` (0.01, one point on
the 0-100 scale; why is said there). The same ``seed`` and number of items give the same resamples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from hpo.stats.weighted_metrics import Array, WeightedMetric, mean

Verdict = Literal["WIN", "TIE", "REGRESSION", "MARGINAL"]

# Items per block of resamples: the weight matrices of one block stay around 16 MiB.
_BLOCK_ITEMS = 1 << 21


@dataclass(frozen=True)
class Comparison:
    """The candidate's gain over the reference, its interval, and what to conclude from them."""

    difference: float
    low: float
    high: float
    n: int
    verdict: Verdict
    confidence: float = 0.95
    method: str = "paired bootstrap"
    min_gain: float = 0.0  # the threshold that told WIN from MARGINAL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the difference and bounds rounded to 6 decimals."""
        rounded = {key: round(getattr(self, key), 6) for key in ("difference", "low", "high")}
        return {**asdict(self), **rounded}

    def describe(self) -> str:
        """One line such as ``+0.0123 [+0.0040, +0.0210] WIN``; a WIN or MARGINAL names the threshold
        that decided it when there is one: ``+0.0030 [+0.0010, +0.0050] MARGINAL (gain < min_gain 0.01)``."""
        return f"{self.difference:+.4f} [{self.low:+.4f}, {self.high:+.4f}] {self.verdict}" + threshold_note(
            self.verdict, self.min_gain
        )


def threshold_note(verdict: str, min_gain: float | None) -> str:
    """What a WIN or MARGINAL owes to ``min_gain``: `` (gain >= min_gain 0.01)``; empty without one."""
    if not min_gain or verdict not in ("WIN", "MARGINAL"):
        return ""
    return f" (gain {'>=' if verdict == 'WIN' else '<'} min_gain {min_gain:g})"


def decide(difference: float, low: float, high: float, min_gain: float = 0.0) -> Verdict:
    """WIN above 0 and by at least ``min_gain``, MARGINAL above 0 by less, REGRESSION below 0, else TIE."""
    if low > 0:
        return "WIN" if difference >= min_gain else "MARGINAL"
    if high < 0:
        return "REGRESSION"
    return "TIE"


class BootstrapOptions(TypedDict, total=False):
    """The options of :func:`bootstrap_metric`, for the functions that pass them on."""

    min_gain: float
    resamples: int
    confidence: float
    seed: int
    maximize: bool


def paired_bootstrap(
    candidate: Sequence[float] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    **options: Unpack[BootstrapOptions],
) -> Comparison:
    """Compare per-item scores (per-query NDCG, per-pair loss, ...): the mean of candidate minus reference.

    ``options`` as for :func:`bootstrap_metric`.
    """
    candidate_array = np.asarray(candidate, dtype=np.float64)
    if candidate_array.ndim != 1:
        raise ValueError("paired_bootstrap takes one score per item; for rows of values use bootstrap_metric")
    return bootstrap_metric(mean, candidate_array, np.asarray(reference, dtype=np.float64), **options)


def bootstrap_metric(
    metric: WeightedMetric,
    candidate: npt.ArrayLike,
    reference: npt.ArrayLike,
    min_gain: float = 0.0,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    maximize: bool = True,
) -> Comparison:
    """Compare ``metric`` (see :mod:`hpo.stats.weighted_metrics`) of two models, one row per item for each.

    For a correlation over pairs, give each model's (score, gold) rows and ``spearman``; every
    resample scores both models on the same draw of pairs.
    """
    c, r = np.asarray(candidate, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    _check_pairs(c, r)
    _check_options(resamples, confidence, min_gain)
    sign = 1.0 if maximize else -1.0
    everything = np.ones((1, len(c)))
    difference = float(sign * (metric(c, everything) - metric(r, everything))[0])
    gains = np.concatenate([sign * (metric(c, w) - metric(r, w)) for w in _resample_weights(len(c), resamples, seed)])
    if not np.isfinite(difference):
        raise ValueError("the metric is undefined on these items: is a column constant, or a gold class missing?")
    undefined = int(np.count_nonzero(~np.isfinite(gains)))
    if undefined:
        raise ValueError(f"the metric is undefined on {undefined} of {resamples} resamples; compare on more items")
    low, high = (float(q) for q in np.quantile(gains, [(1 - confidence) / 2, (1 + confidence) / 2]))
    verdict = decide(difference, low, high, min_gain)
    return Comparison(difference, low, high, len(c), verdict, confidence, min_gain=min_gain)


def bootstrap_runs(
    metric: WeightedMetric,
    candidate: Sequence[npt.ArrayLike],
    reference: Sequence[npt.ArrayLike],
    min_gain: float = 0.0,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    maximize: bool = True,  # the options of bootstrap_metric
) -> Comparison:
    """Compare two configs that were each trained with several seeds, all scored on the same items.

    ``candidate`` and ``reference`` hold one run per seed (rows as for :func:`bootstrap_metric`). A
    config's score is the mean of ``metric`` over its runs. Each resample draws the items with
    replacement (one draw for both configs: paired) and, for each config, its runs with
    replacement, so the interval holds both how hard the items are and how much the seed moves a
    model. With one run each, this is :func:`bootstrap_metric`'s comparison.
    """
    runs = [np.asarray(r, dtype=np.float64) for r in (*candidate, *reference)]
    if not candidate or not reference:
        raise ValueError("each side needs at least one run")
    for run in runs[1:]:
        _check_pairs(runs[0], run)
    _check_options(resamples, confidence, min_gain)
    sign = 1.0 if maximize else -1.0
    ours, theirs = runs[: len(candidate)], runs[len(candidate) :]
    everything = np.ones((1, len(runs[0])))
    difference = float(
        sign * (np.mean([metric(r, everything) for r in ours]) - np.mean([metric(r, everything) for r in theirs]))
    )
    if not np.isfinite(difference):
        raise ValueError("the metric is undefined on these items: is a column constant, or a gold class missing?")
    run_draws = np.random.default_rng([seed, 1])
    gains = []
    for weights in _resample_weights(len(runs[0]), resamples, seed):
        sides = []
        for side in (ours, theirs):
            scores = np.stack([metric(r, weights) for r in side])  # (runs, resamples in this block)
            counts = _draw_counts(run_draws, len(side), weights.shape[0])  # (resamples, runs)
            sides.append(np.einsum("rs,sr->r", counts, scores) / len(side))
        gains.append(sign * (sides[0] - sides[1]))
    values = np.concatenate(gains)
    undefined = int(np.count_nonzero(~np.isfinite(values)))
    if undefined:
        raise ValueError(f"the metric is undefined on {undefined} of {resamples} resamples; compare on more items")
    low, high = (float(q) for q in np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2]))
    method = f"paired bootstrap over items and seeds ({len(ours)} vs {len(theirs)} runs)"
    verdict = decide(difference, low, high, min_gain)
    return Comparison(difference, low, high, len(runs[0]), verdict, confidence, method, min_gain)


def _draw_counts(rng: np.random.Generator, runs: int, resamples: int) -> Array:
    """How often each of ``runs`` runs is drawn (with replacement) in each resample."""
    draws = rng.integers(0, runs, size=(resamples, runs))
    counts = np.zeros((resamples, runs))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    return counts


def _check_pairs(candidate: Array, reference: Array) -> None:
    """Refuse rows that do not pair up item by item, or that are not all finite."""
    if candidate.ndim not in (1, 2):
        raise ValueError(f"expected one value or one row of values per item, got shape {candidate.shape}")
    if len(candidate) != len(reference):
        raise ValueError(
            f"candidate has {len(candidate)} items but reference has {len(reference)}; "
            "score both on the same items, in the same order"
        )
    if candidate.shape != reference.shape:
        raise ValueError(f"candidate has shape {candidate.shape} but reference has {reference.shape}")
    if len(candidate) == 0:
        raise ValueError("no items to compare")
    for name, values in (("candidate", candidate), ("reference", reference)):
        bad = np.flatnonzero(~np.isfinite(values).reshape(len(values), -1).all(axis=1))
        if bad.size:
            raise ValueError(f"{name} item {bad[0]} is not a finite number: {values[bad[0]]}")


def _resample_weights(n: int, resamples: int, seed: int) -> Iterator[Array]:
    """How often each of ``n`` items is drawn in each resample, a block of resamples at a time."""
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_ITEMS // n)
    for start in range(0, resamples, rows):
        size = min(rows, resamples - start)
        draws = rng.integers(0, n, size=(size, n))
        draws += n * np.arange(size)[:, None]  # row r counts into bins r * n .. r * n + n - 1
        yield np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def _check_options(resamples: int, confidence: float, min_gain: float) -> None:
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1 (got {resamples})")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, exclusive (got {confidence})")
    if min_gain < 0:
        raise ValueError(f"min_gain must be 0 or more (got {min_gain})")
