"""Quality-vs-cost fronts from trial records, and the short plot labels of hpo report."""

from __future__ import annotations

import optuna

from hpo.results.pareto import Point, best_within, cost_axes, front
from hpo.views.plot_labels import plotting_copy, short_labels


def _point(trial: int, value: float, cost: float, ms: float, dimension: int = 384) -> Point:
    return Point(trial, value, cost, cost * 1000, ms, dimension, {})


POINTS = [
    _point(0, 0.80, 0.10, 2.0),
    _point(1, 0.85, 0.30, 4.0),
    _point(2, 0.78, 0.05, 1.0),
    _point(3, 0.84, 0.40, 1.5),  # dearer and worse than trial 1: off the cost front
    _point(4, 0.79, 0.20, 3.0),  # dearer and worse than trial 0
]


def test_the_front_keeps_the_trials_nothing_beats_on_both_axes() -> None:
    cost, latency = cost_axes(POINTS)
    assert (cost.label, latency.label) == ("dollars per trial", "encoding ms per text")
    assert [p.trial for p in front(POINTS, cost, maximize=True)] == [2, 0, 1]
    assert [p.trial for p in front(POINTS, latency, maximize=True)] == [2, 3, 1]
    assert [p.trial for p in front(POINTS, cost, maximize=False)] == [2]


def test_dimension_is_an_axis_when_trials_differ_in_it() -> None:
    assert [a.name for a in cost_axes([*POINTS, _point(5, 0.7, 0.1, 1.0, dimension=64)])] == [
        "cost",
        "latency",
        "dimension",
    ]
    unpriced = [Point(0, 0.8, None, 12.0, None, None, {})]
    assert [a.label for a in cost_axes(unpriced)] == ["device seconds per trial"]


def test_best_within_limits() -> None:
    assert best_within(POINTS, True, max_cost=0.3) == POINTS[1]
    assert best_within(POINTS, True, max_cost=0.3, max_latency=3.0) == POINTS[0]
    assert best_within(POINTS, True, max_cost=0.01) is None


def test_plot_labels_are_short_and_unique() -> None:
    names = [
        "MultipleNegativesRankingLoss.scale",
        "CachedMultipleNegativesRankingLoss.scale",
        "CachedMultipleNegativesRankingLoss.mini_batch_size",
        "learning_rate",
        "loss",
    ]
    assert short_labels(names) == {
        "MultipleNegativesRankingLoss.scale": "MNRL.scale",
        "CachedMultipleNegativesRankingLoss.scale": "CMNRL.scale",
        "CachedMultipleNegativesRankingLoss.mini_batch_size": "CMNRL.mini_batch_size",
        "learning_rate": "lr",
        "loss": "loss",
    }
    clash = short_labels(["FooBarLoss.scale", "FastBoundLoss.scale"])  # both would be FBL.scale
    assert clash == {"FooBarLoss.scale": "FooBarLoss.scale", "FastBoundLoss.scale": "FastBoundLoss.scale"}


def test_the_plotting_copy_renames_params_and_leaves_confirmation_runs_out() -> None:
    study = optuna.create_study(direction="maximize")
    model = "/somewhere/with/a/long/path/to/tiny-model"
    distributions = {
        "model": optuna.distributions.CategoricalDistribution([model]),
        "MultipleNegativesRankingLoss.scale": optuna.distributions.FloatDistribution(10, 30),
    }
    for value, confirms in ((0.5, None), (0.6, 0)):
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                params={"model": model, "MultipleNegativesRankingLoss.scale": 20.0},
                distributions=distributions,
                user_attrs={} if confirms is None else {"confirms_trial": confirms},
            )
        )
    copy = plotting_copy(study)
    assert [t.params for t in copy.trials] == [{"model": "tiny-model", "MNRL.scale": 20.0}]
