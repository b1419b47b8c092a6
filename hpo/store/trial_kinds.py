"""Which trials of a study are the search, and which confirm a search trial with another seed.

``hpo confirm`` queues confirmation runs as ordinary trials of the same study (so that ordinary
workers run them), marked with :data:`hpo.attrs.CONFIRMS`. They are outside the search budget:
the best trial, the runner-up, the Pareto front and the search's trial counts are the search
trials' alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hpo import attrs

if TYPE_CHECKING:
    import optuna


def is_confirmation(trial: optuna.trial.FrozenTrial) -> bool:
    return attrs.CONFIRMS in trial.user_attrs


def search_trials(trials: Iterable[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if not is_confirmation(t)]


def confirmation_trials(trials: Iterable[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if is_confirmation(t)]


def ranked_complete(trials: Iterable[optuna.trial.FrozenTrial], direction: str) -> list[optuna.trial.FrozenTrial]:
    """The COMPLETE search trials that an hpo worker recorded, best first."""
    complete = [
        t
        for t in search_trials(trials)
        if t.state.name == "COMPLETE" and t.value is not None and attrs.TRAINING in t.user_attrs
    ]
    return sorted(complete, key=lambda t: float(t.value or 0.0), reverse=direction == "maximize")
