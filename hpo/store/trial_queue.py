"""Taking trials from a study's WAITING queue, and keeping a running trial's heartbeat.

The claim uses Optuna's public storage API. Heartbeats and stale trials go through Optuna's
heartbeat interface, which is partly private: ``optuna.storages._heartbeat.BaseHeartbeat`` (the
class every heartbeat storage derives from) and its ``_get_stale_trial_ids`` method, the same
method Optuna's own ``fail_stale_trials`` calls. ``tests/hpo/test_retrying_storage.py`` checks
that they still exist. Both work on RDB storages and, through hpo's retrying client, on the gRPC
storage proxy.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from hpo import attrs

if TYPE_CHECKING:
    import optuna


logger = logging.getLogger(__name__)


def running_worker_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The RUNNING trials that hpo workers claimed (other Optuna clients' trials have no heartbeat)."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return [t for t in running if t.system_attrs.get(attrs.CLAIMED)]


def pop_waiting_trial(study: optuna.Study, storage: optuna.storages.BaseStorage) -> int | None:
    """Claim the oldest WAITING trial (atomically: one worker wins); None when the queue is empty.

    The WAITING trials are listed through the study so that its storage cache knows them.
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages._heartbeat import BaseHeartbeat

    study_id = storage.get_study_id_from_name(study.study_name)
    waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    for frozen in sorted(waiting, key=lambda t: t.number):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
        try:
            # Marked before the claim: whichever hpo worker wins it, the trial is an hpo worker's.
            storage.set_trial_system_attr(trial_id, attrs.CLAIMED, True)
            if storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.RUNNING):
                # Optuna never calls a RUNNING trial without a heartbeat stale: beat at once, so a
                # worker killed right after the claim still has its trial recovered.
                if isinstance(storage, BaseHeartbeat) and storage.get_heartbeat_interval():
                    storage.record_heartbeat(trial_id)
                return trial_id
        except UpdateFinishedTrialError:
            continue
    return None


def fail_stale_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Optuna's ``fail_stale_trials``, with the reason recorded in the failed trial's ``fail_reason``.

    A trial whose heartbeat is older than the grace period lost its worker (killed, preempted, out
    of memory). It is failed once, by whichever worker sees it first, and the storage's stale-trial
    callback re-queues it with the same parameters.
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages._heartbeat import BaseHeartbeat

    if not isinstance(storage, BaseHeartbeat) or (interval := storage.get_heartbeat_interval()) is None:
        return []
    grace = getattr(storage, "grace_period", None) or 2 * interval
    reason = f"no heartbeat for over {grace} s: its worker was killed or lost; re-queued"
    failed = []
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial_id in storage._get_stale_trial_ids(study_id):  # BaseHeartbeat's interface, as Optuna uses it
        try:
            storage.set_trial_user_attr(trial_id, attrs.FAIL_REASON, reason)
            if storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.FAIL):
                failed.append(trial_id)
        except UpdateFinishedTrialError:
            continue  # another worker failed it first
    callback = storage.get_heartbeat_stale_trial_callback()
    for trial_id in failed:
        logger.warning("trial id %d: %s", trial_id, reason)
        if callback is not None:
            callback(study, storage.get_trial(trial_id))
    return failed


class Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds while the block runs."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, interval: float) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        while True:
            try:
                self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]
            except Exception as exc:  # a storage blip must not kill the trial; the next beat retries
                logger.warning("heartbeat of trial id %d failed: %s", self._trial_id, type(exc).__name__)
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> Heartbeat:
        if hasattr(self._storage, "record_heartbeat"):
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
