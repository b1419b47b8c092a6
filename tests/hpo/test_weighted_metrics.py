from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from hpo.stats.weighted_metrics import (
    Array,
    average_precision,
    f1,
    mcc,
    mean,
    pearson,
    per_resample,
    precision,
    recall,
    spearman,
)


def _weights(n: int, resamples: int = 6) -> Array:
    """Bootstrap counts, plus one row of all ones and one that leaves items out."""
    rng = np.random.default_rng(3)
    counts = rng.multinomial(n, np.full(n, 1 / n), size=resamples).astype(np.float64)
    return np.vstack([np.ones(n), counts])


def _pairs(n: int = 40) -> Array:
    """(score, gold) rows with ties in both columns."""
    rng = np.random.default_rng(4)
    gold = rng.integers(0, 5, size=n).astype(np.float64)
    score = np.round(gold + rng.normal(scale=2.0, size=n), 1)
    return np.column_stack([score, gold])


def _labelled(n: int = 40) -> Array:
    """(score, label) rows with tied scores that carry different labels."""
    rng = np.random.default_rng(5)
    labels = (rng.random(n) < 0.4).astype(np.float64)
    scores = np.round(labels + rng.normal(scale=0.8, size=n), 1)
    return np.column_stack([scores, labels])


def _check_against(metric: Callable[[Array, Array], Array], plain: Callable[[Array], float], values: Array) -> None:
    weights = _weights(len(values))
    np.testing.assert_allclose(metric(values, weights), per_resample(plain)(values, weights), rtol=1e-12)


def test_mean() -> None:
    values = np.random.default_rng(1).random(30)
    _check_against(mean, lambda items: float(items.mean()), values)


def test_pearson() -> None:
    _check_against(pearson, lambda items: float(np.corrcoef(items[:, 0], items[:, 1])[0, 1]), _pairs())


def test_spearman_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    _check_against(spearman, lambda items: float(stats.spearmanr(items[:, 0], items[:, 1]).statistic), _pairs())


def test_spearman_without_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    values = np.random.default_rng(2).normal(size=(50, 2))
    _check_against(spearman, lambda items: float(stats.spearmanr(items[:, 0], items[:, 1]).statistic), values)


def test_average_precision_matches_scikit_learn_with_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    _check_against(
        average_precision,
        lambda items: float(metrics.average_precision_score(items[:, 1], items[:, 0])),
        _labelled(),
    )


def test_average_precision_needs_binary_labels() -> None:
    with pytest.raises(ValueError) as info:
        average_precision(np.array([[0.3, 1.0], [0.2, 2.0]]), np.ones((1, 2)))
    assert str(info.value) == "average_precision needs gold labels of 0 or 1 in column 1"


def test_a_constant_column_has_no_correlation() -> None:
    values = np.column_stack([np.ones(5), np.arange(5.0)])
    assert np.isnan(pearson(values, np.ones((1, 5)))).all()
    assert np.isnan(spearman(values, np.ones((1, 5)))).all()


def test_no_positives_have_no_average_precision() -> None:
    assert np.isnan(average_precision(np.column_stack([np.arange(4.0), np.zeros(4)]), np.ones((1, 4)))).all()


def _predictions(n: int = 40) -> Array:
    """(prediction, label) rows, both 0 or 1."""
    rng = np.random.default_rng(6)
    labels = (rng.random(n) < 0.4).astype(np.float64)
    flipped = rng.random(n) < 0.3
    return np.column_stack([np.where(flipped, 1 - labels, labels), labels])


@pytest.mark.parametrize("name", ["f1_score", "precision_score", "recall_score", "matthews_corrcoef"])
def test_classification_metrics_match_scikit_learn(name: str) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    weighted = {"f1_score": f1, "precision_score": precision, "recall_score": recall, "matthews_corrcoef": mcc}[name]
    plain = getattr(metrics, name)
    _check_against(weighted, lambda items: float(plain(items[:, 1], items[:, 0])), _predictions())


def test_classification_metrics_without_positives_are_zero() -> None:
    nothing = np.column_stack([np.zeros(4), np.zeros(4)])
    for metric in (f1, precision, recall, mcc):
        assert metric(nothing, np.ones((1, 4)))[0] == 0.0
    with pytest.raises(ValueError) as info:
        f1(np.array([[0.5, 1.0]]), np.ones((1, 1)))
    assert str(info.value) == "classification metrics need predictions and gold labels of 0 or 1"
