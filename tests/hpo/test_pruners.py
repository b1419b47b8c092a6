from __future__ import annotations

import math
from typing import Any, Literal

import optuna
import pytest

from hpo.store.config_file import parse_config
from hpo.store.pruners import latest_value_pruner
from hpo.store.study import build_pruner
from tests.helpers import retrieval_config


def _study(
    pruner: optuna.pruners.BasePruner,
    finished: list[list[float]],
    direction: Literal["minimize", "maximize"] = "maximize",
) -> Any:
    """A study whose completed trials reported these curves at steps 64, 128, ..."""
    study = optuna.create_study(direction=direction, pruner=pruner)
    for curve in finished:
        trial = study.ask()
        for i, value in enumerate(curve):
            trial.report(value, 64 * (i + 1))
        study.tell(trial, curve[-1])
    return study


def _prunes(study: Any, curve: list[float]) -> bool:
    trial = study.ask()
    for i, value in enumerate(curve):
        trial.report(value, 64 * (i + 1))
    return bool(trial.should_prune())


def test_trial_that_peaked_and_fell_is_pruned_by_its_latest_value() -> None:
    finished = [[0.90, 0.92], [0.91, 0.93], [0.89, 0.94]]
    fell = [0.95, 0.90]  # best so far 0.95 is above the median at 128 (0.93); now it is below
    assert _prunes(_study(latest_value_pruner(50.0, 2, 0), finished), fell)
    assert not _prunes(_study(optuna.pruners.MedianPruner(n_startup_trials=2), finished), fell)
    assert not _prunes(_study(latest_value_pruner(50.0, 2, 0), finished), [0.88, 0.935])


def test_start_up_trials_and_warm_up_steps_are_never_pruned() -> None:
    assert not _prunes(_study(latest_value_pruner(50.0, 2, 0), [[0.9, 0.9]]), [0.1])
    assert not _prunes(_study(latest_value_pruner(50.0, 2, 128), [[0.9, 0.9]] * 2), [0.1])
    assert _prunes(_study(latest_value_pruner(50.0, 2, 128), [[0.9, 0.9]] * 2), [0.1, 0.1])


def test_percentile_and_direction() -> None:
    finished = [[0.1], [0.2], [0.3], [0.4], [0.5]]
    # keep the top 25 %: the 75th percentile of the finished trials is 0.4
    assert _prunes(_study(latest_value_pruner(25.0, 2, 0), finished), [0.35])
    assert not _prunes(_study(latest_value_pruner(25.0, 2, 0), finished), [0.45])
    # minimizing a loss: lower is better
    assert _prunes(_study(latest_value_pruner(50.0, 2, 0), finished, "minimize"), [0.35])
    assert not _prunes(_study(latest_value_pruner(50.0, 2, 0), finished, "minimize"), [0.25])
    assert _prunes(_study(latest_value_pruner(50.0, 2, 0), finished), [math.nan])


@pytest.mark.parametrize(
    ("pruner", "kind"),
    [
        ({"type": "median"}, "LatestValuePercentilePruner"),
        ({"type": "median", "compare": "best"}, "MedianPruner"),
        ({"type": "percentile", "percentile": 40.0}, "LatestValuePercentilePruner"),
        ({"type": "percentile", "percentile": 40.0, "compare": "best"}, "PercentilePruner"),
        ({"type": "hyperband", "min_resource": 64}, "HyperbandPruner"),
        ({"type": "none"}, "NopPruner"),
    ],
)
def test_config_builds_the_named_pruner(pruner: dict[str, Any], kind: str) -> None:
    config = parse_config({**retrieval_config("m"), "pruner": pruner}, source="x")
    assert type(build_pruner(config)).__name__ == kind
