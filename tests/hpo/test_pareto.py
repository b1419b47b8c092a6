"""Quality-vs-cost fronts from trial records, and the short plot labels of hpo report."""

from __future__ import annotations

import optuna

from hpo.results.pareto import LATENCY_TOLERANCE, Point, best_within, cost_axes, format_fronts, front
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


def test_latencies_within_the_tolerance_count_as_equal() -> None:
    # On a shared CPU, 54.20 and 54.29 ms per text are the same speed: the worse trial is off the front.
    noisy = [_point(0, 0.62, 0.1, 54.29), _point(1, 0.60, 0.1, 54.20), _point(2, 0.55, 0.1, 40.0)]
    _, latency = cost_axes(noisy)
    assert latency.tolerance == LATENCY_TOLERANCE == 0.05
    assert [p.trial for p in front(noisy, latency, maximize=True)] == [2, 0]
    clearly_faster = [_point(0, 0.62, 0.1, 54.29), _point(1, 0.60, 0.1, 50.0)]
    assert [p.trial for p in front(clearly_faster, latency, maximize=True)] == [1, 0]
    # 0 beats 1 and 1 beats 2 within the tolerance, but 2 is 8% faster than 0: it stays.
    chained = [_point(0, 0.90, 0.1, 10.4), _point(1, 0.89, 0.1, 10.0), _point(2, 0.88, 0.1, 9.6)]
    assert [p.trial for p in front(chained, latency, maximize=True)] == [2, 0]


def test_the_listing_says_the_tolerance_and_when_latencies_are_not_comparable() -> None:
    points = [
        Point(0, 0.62, None, 60.0, 54.29, 384, {"lr": 1e-4}, "cpu"),
        Point(1, 0.60, None, 50.0, 54.20, 384, {"lr": 2e-4}, "cpu"),
        Point(2, 0.58, None, 20.0, 3.10, 384, {"lr": 3e-4}, "NVIDIA A10G"),
    ]
    latency_block = format_fronts(points, "ndcg@10", maximize=True).split("\n\n")[1]
    assert latency_block.splitlines() == [
        "front of ndcg@10 against encoding ms per text (2 of 3 trials; within 5% counts as equal):",
        "trial  ndcg@10  dollars  device s  ms/text  dim  params",
        "2      0.5800   -        20        3.10     384  lr=0.0003",
        "0      0.6200   -        60        54.29    384  lr=0.0001",
        "note: ms per text measured on NVIDIA A10G, cpu: not comparable across devices",
    ]
