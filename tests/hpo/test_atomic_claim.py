"""Workers racing for the same WAITING trials: each trial is claimed exactly once, on SQLite too."""

from __future__ import annotations

import multiprocessing
import time

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from hpo.store.atomic_claim import AtomicClaimRDBStorage

TRIALS = 40
RACERS = 6


def _claim_all(url: str, start_at: float) -> list[int]:
    """Try to claim every trial of the study, in order, from the same moment as the other racers."""
    storage = AtomicClaimRDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}} if "sqlite" in url else {})
    trial_ids = [t._trial_id for t in storage.get_all_trials(storage.get_study_id_from_name("race"))]
    time.sleep(max(0.0, start_at - time.time()))
    won = []
    for trial_id in trial_ids:
        try:
            if storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                won.append(trial_id)
        except UpdateFinishedTrialError:
            continue
    return won


def test_racing_workers_claim_each_trial_once(storage_url: str) -> None:
    study = optuna.create_study(study_name="race", storage=AtomicClaimRDBStorage(storage_url))
    for _ in range(TRIALS):
        study.enqueue_trial({})
    context = multiprocessing.get_context("spawn")
    with context.Pool(RACERS) as pool:
        start_at = time.time() + 3.0  # after every racer has started and connected
        wins = pool.starmap(_claim_all, [(storage_url, start_at)] * RACERS)
    claimed = sorted(trial_id for won in wins for trial_id in won)
    assert len(claimed) == TRIALS
    assert len(set(claimed)) == TRIALS  # none twice
    assert {t.state for t in study.get_trials()} == {TrialState.RUNNING}


def test_a_claim_of_a_running_or_finished_trial_is_refused_as_optuna_does(tmp_path: object) -> None:
    storage = AtomicClaimRDBStorage(f"sqlite:///{tmp_path}/study.db")
    study = optuna.create_study(study_name="race", storage=storage)
    study.enqueue_trial({})
    study.enqueue_trial({})
    first, second = (t._trial_id for t in study.get_trials())
    assert storage.set_trial_state_values(first, TrialState.RUNNING)
    assert storage.get_trial(first).datetime_start is not None
    assert not storage.set_trial_state_values(first, TrialState.RUNNING)
    storage.set_trial_state_values(first, TrialState.COMPLETE, [1.0])
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_state_values(first, TrialState.RUNNING)
    assert storage.get_trial(second).state == TrialState.WAITING
