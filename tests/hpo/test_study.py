from __future__ import annotations

import optuna

from hpo.config_file import parse_config
from hpo.study import build_sampler
from tests.helpers import retrieval_config


def _first_draw(trial_number: int, seed: int = 42) -> float:
    config = parse_config({**retrieval_config("some/model"), "seed": seed}, source="x")
    study = optuna.create_study(sampler=build_sampler(config, trial_number))
    return study.ask().suggest_float("x", 0.0, 1.0)


def test_a_trial_draws_the_same_params_whichever_worker_runs_it() -> None:
    assert _first_draw(3) == _first_draw(3)
    assert _first_draw(3) != _first_draw(4)  # concurrent workers run different numbers
    assert _first_draw(3, seed=7) != _first_draw(3)
