from __future__ import annotations

import optuna
import pytest

from hpo.settings.space import TrainingParams
from hpo.store.config_file import parse_config
from tests.helpers import retrieval_config, training_params


def _space(**overrides: object) -> object:
    raw = retrieval_config("base/model")
    raw["search_space"].update(overrides)
    return parse_config(raw, source="x").search_space


def test_loss_parameters_are_conditional_on_the_chosen_loss() -> None:
    space = _space(
        loss={
            "MultipleNegativesRankingLoss": {"scale": {"type": "float", "low": 10.0, "high": 30.0}},
            "CachedMultipleNegativesRankingLoss": {"mini_batch_size": {"type": "categorical", "choices": [8, 16]}},
        }
    )
    trial = optuna.trial.FixedTrial(
        {
            "loss": "CachedMultipleNegativesRankingLoss",
            "CachedMultipleNegativesRankingLoss.mini_batch_size": 8,
            "learning_rate": 1e-4,
        }
    )
    params = space.suggest(trial)  # type: ignore[attr-defined]
    assert params.loss == "CachedMultipleNegativesRankingLoss"
    assert params.loss_params == {"mini_batch_size": 8}
    assert "MultipleNegativesRankingLoss.scale" not in trial.params


def test_fixed_values_are_not_optuna_params() -> None:
    study = optuna.create_study()
    trial = study.ask()
    params = _space().suggest(trial)  # type: ignore[attr-defined]
    assert set(trial.params) == {"MultipleNegativesRankingLoss.scale", "learning_rate"}
    assert params.model == "base/model"
    assert params.batch_size == 16
    assert params.max_seq_length == 48
    assert params.warmup_ratio == 0.1
    assert 1e-5 <= params.learning_rate <= 1e-2


def test_resolve_rebuilds_a_trial_from_its_params() -> None:
    space = _space()
    params = space.resolve({"MultipleNegativesRankingLoss.scale": 12.5, "learning_rate": 3e-4})  # type: ignore[attr-defined]
    assert params == training_params(
        model="base/model", learning_rate=3e-4, batch_size=16, max_seq_length=48, loss_params={"scale": 12.5}
    )
    assert TrainingParams.from_dict(params.to_dict()) == params


def test_searched_models_lists_every_candidate() -> None:
    space = _space(model={"type": "categorical", "choices": ["a/b", "c/d"]})
    assert space.searched_models() == ["a/b", "c/d"]  # type: ignore[attr-defined]


def test_int_parameter_suggestion_respects_step() -> None:
    space = _space(epochs={"type": "int", "low": 1, "high": 5, "step": 2})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    values = {space.suggest(study.ask()).epochs for _ in range(20)}  # type: ignore[attr-defined]
    assert values <= {1, 3, 5}


@pytest.mark.parametrize("choices", [[], None])
def test_empty_categorical_is_rejected(choices: object) -> None:
    from hpo.errors import ConfigError

    with pytest.raises(ConfigError, match=r"search_space\.batch_size"):
        _space(batch_size={"type": "categorical", "choices": choices})
