"""How much a set of workers got done: trials that ended in a time window, per hour."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo.store.storage import StorageUrl


def trials_ended_since(storage_url: StorageUrl, study_name: str, since: datetime) -> int:
    """Trials of the study that completed or were pruned at or after ``since`` (workers stamp them with their clock)."""
    import optuna

    from hpo.store.storage import open_storage

    storage = open_storage(storage_url)
    study = optuna.load_study(study_name=study_name, storage=storage.backend)
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ended = study.get_trials(deepcopy=False, states=states)
    return sum(1 for t in ended if t.datetime_complete is not None and t.datetime_complete >= since)


def describe_throughput(trials: int, seconds: float, workers: int) -> str:
    """The result line of a supervised run: trials, wall time, trials per hour."""
    rate = trials * 3600 / seconds if seconds > 0 else 0.0
    ended, by = f"{trials} trial{'' if trials == 1 else 's'}", f"{workers} worker{'' if workers == 1 else 's'}"
    return f"{ended} ended in {seconds:.0f} s with {by}: {rate:.0f} trials/hour"
