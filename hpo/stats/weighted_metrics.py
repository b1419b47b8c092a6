"""Metrics of many bootstrap resamples at once, each resample given as item weights.

A bootstrap resample draws n items with replacement, so it is the original items with item i
counted ``weights[r, i]`` times in resample r. A :data:`WeightedMetric` scores every resample from
the original items and that (resamples, n) weight matrix: sort orders and tie groups are found once,
and no item is copied, which keeps thousands of resamples over thousands of items fast.

``values`` holds one row per item for one model: a score per item for :func:`mean`, the columns
(model score, gold) for :func:`pearson`, :func:`spearman` and :func:`average_precision`, or
(prediction, gold label), both 0 or 1, for :func:`f1`, :func:`precision`, :func:`recall` and
:func:`mcc` (a classifier whose threshold is already chosen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.float64]
WeightedMetric: TypeAlias = Callable[[Array, Array], Array]
"""``metric(values, weights)``: values (n,) or (n, k), weights (resamples, n) -> one score per resample."""


def mean(values: Array, weights: Array) -> Array:
    """The weighted mean of one score per item: per-query NDCG, per-pair loss, ..."""
    result: Array = weights @ values / weights.sum(axis=1)
    return result


def pearson(values: Array, weights: Array) -> Array:
    """Pearson correlation between column 0 (the model's score) and column 1 (gold)."""
    x, y = values[:, 0] - values[:, 0].mean(), values[:, 1] - values[:, 1].mean()  # centred: less cancellation
    total = weights.sum(axis=1)
    mean_x, mean_y = weights @ x / total, weights @ y / total
    covariance = weights @ (x * y) / total - mean_x * mean_y
    variance_x, variance_y = weights @ (x * x) / total - mean_x**2, weights @ (y * y) / total - mean_y**2
    return _ratio(covariance, variance_x * variance_y)


def spearman(values: Array, weights: Array) -> Array:
    """Spearman correlation between column 0 (the model's score) and column 1 (gold); ties share ranks."""
    total = weights.sum(axis=1)
    mean_rank = (total + 1) / 2  # average ranks of N items always sum to N (N + 1) / 2
    rank_x, weight_x, run_x = _ranks(values[:, 0], weights)
    rank_y, weight_y, run_y = _ranks(values[:, 1], weights)
    item_rank_x, item_rank_y = np.take(rank_x, run_x, axis=1), np.take(rank_y, run_y, axis=1)
    covariance = np.einsum("ij,ij,ij->i", weights, item_rank_x, item_rank_y) / total - mean_rank**2
    variance_x = np.einsum("ij,ij,ij->i", weight_x, rank_x, rank_x) / total - mean_rank**2
    variance_y = np.einsum("ij,ij,ij->i", weight_y, rank_y, rank_y) / total - mean_rank**2
    return _ratio(covariance, variance_x * variance_y)


def average_precision(values: Array, weights: Array) -> Array:
    """Average precision of column 0 (the model's score) against column 1 (gold label, 0 or 1).

    Tied scores form one threshold, as in scikit-learn's ``average_precision_score``.
    """
    scores, labels = values[:, 0], values[:, 1]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("average_precision needs gold labels of 0 or 1 in column 1")
    order, starts, _ = _runs(-scores)  # best score first
    sorted_weights = np.take(weights, order, axis=1)
    positives = _sum_runs(sorted_weights * labels[order], starts)
    retrieved = np.cumsum(_sum_runs(sorted_weights, starts), axis=1)
    precision = np.divide(np.cumsum(positives, axis=1), retrieved, out=np.zeros_like(retrieved), where=retrieved > 0)
    with np.errstate(invalid="ignore", divide="ignore"):  # no positives at all: undefined, NaN
        result: Array = (positives * precision).sum(axis=1) / positives.sum(axis=1)
    return result


def f1(values: Array, weights: Array) -> Array:
    """F1 of column 0 (prediction, 0 or 1) against column 1 (gold label); 0 when nothing is predicted or gold."""
    tp, fp, fn, _ = _confusion(values, weights)
    return _share(2 * tp, 2 * tp + fp + fn)


def precision(values: Array, weights: Array) -> Array:
    """Precision of column 0 (prediction, 0 or 1) against column 1 (gold label); 0 when nothing is predicted."""
    tp, fp, _, _ = _confusion(values, weights)
    return _share(tp, tp + fp)


def recall(values: Array, weights: Array) -> Array:
    """Recall of column 0 (prediction, 0 or 1) against column 1 (gold label); 0 without gold positives."""
    tp, _, fn, _ = _confusion(values, weights)
    return _share(tp, tp + fn)


def mcc(values: Array, weights: Array) -> Array:
    """Matthews correlation of column 0 (prediction) and column 1 (gold label); 0 when undefined, as scikit-learn."""
    tp, fp, fn, tn = _confusion(values, weights)
    return _share(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))


def per_resample(metric: Callable[[Array], float]) -> WeightedMetric:
    """A weighted metric from one that scores a plain (n, k) array of items.

    It rebuilds every resample and calls ``metric`` once per resample: simple but slow, for metrics
    that have no weighted form here.
    """

    def weighted(values: Array, weights: Array) -> Array:
        counts = weights.astype(np.intp)
        return np.array([metric(np.repeat(values, row, axis=0)) for row in counts], dtype=np.float64)

    return weighted


def _runs(x: Array) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The sort order of ``x``, where each run of equal values starts in it, and each item's run."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    is_start = np.concatenate(([True], sorted_x[1:] != sorted_x[:-1]))
    run = np.empty(len(x), dtype=np.intp)
    run[order] = np.cumsum(is_start) - 1
    return order, np.flatnonzero(is_start), run


def _ranks(x: Array, weights: Array) -> tuple[Array, Array, npt.NDArray[np.intp]]:
    """Runs of equal values in ``x``: each run's average rank (from 1) and weight per resample, each item's run."""
    order, starts, run = _runs(x)
    run_weight = _sum_runs(np.take(weights, order, axis=1), starts)
    run_rank: Array = np.cumsum(run_weight, axis=1)
    run_rank -= run_weight / 2
    run_rank += 0.5  # a run of weight w after b smaller items has average rank b + (w + 1) / 2
    return run_rank, run_weight, run


def _sum_runs(sorted_weights: Array, starts: npt.NDArray[np.intp]) -> Array:
    """Per resample, the total of each run's columns in ``sorted_weights``."""
    if len(starts) == sorted_weights.shape[1]:
        return sorted_weights  # no ties: every run is one item
    result: Array = np.add.reduceat(sorted_weights, starts, axis=1)
    return result


def _confusion(values: Array, weights: Array) -> tuple[Array, Array, Array, Array]:
    """Weighted true positives, false positives, false negatives and true negatives per resample."""
    predicted, gold = values[:, 0], values[:, 1]
    if not (np.isin(predicted, (0.0, 1.0)).all() and np.isin(gold, (0.0, 1.0)).all()):
        raise ValueError("classification metrics need predictions and gold labels of 0 or 1")
    tp = weights @ (predicted * gold)
    fp = weights @ (predicted * (1 - gold))
    fn = weights @ ((1 - predicted) * gold)
    tn = weights @ ((1 - predicted) * (1 - gold))
    return tp, fp, fn, tn


def _share(numerator: Array, denominator: Array) -> Array:
    result: Array = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    return result


def _ratio(covariance: Array, variance_product: Array) -> Array:
    """Correlation from covariance and the product of variances; NaN where a column is constant."""
    with np.errstate(invalid="ignore", divide="ignore"):
        result: Array = covariance / np.sqrt(variance_product)
    return result
