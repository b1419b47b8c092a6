"""The trial queue and heartbeats, on the real storages."""

from __future__ import annotations

import time

import optuna
import sqlalchemy

from hpo.settings.config import FaultToleranceConfig
from hpo.store.storage import StorageUrl, open_storage, open_worker_storage, use_fault_tolerance
from hpo.store.trial_queue import Heartbeat, fail_stale_trials, pop_waiting_trial, running_worker_trials

FAULTS = FaultToleranceConfig(heartbeat_interval=1, grace_period=5, max_retries=1)


def _worker_storage(url: str) -> optuna.storages.BaseStorage:
    open_storage(StorageUrl.parse(url), create=True)  # what create-study does first
    storage = open_worker_storage(StorageUrl.parse(url))
    use_fault_tolerance(storage, FAULTS)
    return storage.backend


def _study(url: str, waiting: int) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = _worker_storage(url)
    study = optuna.create_study(study_name="q", storage=storage)
    for _ in range(waiting):
        study.enqueue_trial({})
    return study, storage


def test_queue_hands_each_trial_to_one_worker(storage_url: str) -> None:
    study, storage = _study(storage_url, waiting=2)
    other = optuna.load_study(study_name="q", storage=_worker_storage(storage_url))
    first = pop_waiting_trial(study, storage)
    second = pop_waiting_trial(other, storage)
    assert first is not None and second is not None and first != second
    assert pop_waiting_trial(study, storage) is None  # the budget is spent
    assert [t.state.name for t in study.get_trials()] == ["RUNNING", "RUNNING"]


def test_stale_trial_is_failed_and_retried(storage_url: str) -> None:
    url = storage_url
    study, storage = _study(url, waiting=1)
    trial_id = pop_waiting_trial(study, storage)
    assert trial_id is not None
    trial = optuna.Trial(study, trial_id)
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("warm_start", True)  # a mark it was queued with
    trial.set_user_attr("training", {"epochs": 1})  # what the killed run had written
    with Heartbeat(storage, trial_id, interval=1):
        time.sleep(0.2)
    # The worker died: backdate its heartbeat past the grace period.
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = heartbeat - INTERVAL '1 hour'")
            if url.startswith("postgresql")
            else sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, '-1 hour')")
        )
    engine.dispose()
    assert fail_stale_trials(study, storage) == [trial_id]
    assert fail_stale_trials(study, storage) == []  # failed once, whoever looks next
    states = [t.state.name for t in study.get_trials()]
    assert states == ["FAIL", "WAITING"]
    assert study.get_trials()[0].user_attrs["fail_reason"] == (
        "no heartbeat for over 5 s: its worker was killed or lost; re-queued"
    )
    retry = study.get_trials()[1]
    assert retry.params == {"x": trial.params["x"]}  # re-run with the same parameters
    assert retry.user_attrs == {"warm_start": True}  # the killed run's fail_reason and results stay behind


def test_only_trials_an_hpo_worker_claimed_are_waited_for(tmp_path: object) -> None:
    study, storage = _study(f"sqlite:///{tmp_path}/q.db", waiting=2)
    study.ask()  # another Optuna client takes a queued trial: RUNNING, no claim, no heartbeat
    assert running_worker_trials(study) == []
    claimed = pop_waiting_trial(study, storage)
    assert [t._trial_id for t in running_worker_trials(study)] == [claimed]
