"""Queue a study's trial budget in bulk: one transaction per batch of trials, not one per trial.

Optuna's ``enqueue_trial`` writes a trial, its user attributes and its ``fixed_params`` system
attribute in one transaction per trial: about 38 trials a second on SQLite, 45 minutes for a
100,000-trial budget. Here a batch of trials is inserted in one transaction, as the same rows
``enqueue_trial`` writes, through Optuna's table models (``optuna.storages._rdb.models``, private
to Optuna, as the atomic claim uses them); ``tests/hpo/test_bulk_enqueue.py`` compares the two.

A batch takes the study's row lock first (an update of the row: a row lock on Postgres, the write
lock on SQLite), then numbers its trials from those already there: a batch sent again after its
commit reply was lost adds nothing twice. Storages without tables (the gRPC proxy) get
``enqueue_trial``, one trial at a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import sqlalchemy

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
QueuedTrial = tuple[dict[str, Any], dict[str, Any] | None]  # (fixed params, user attributes)
Guard = Callable[["sqlalchemy.Connection", int], None]  # raises to abort a batch (in its transaction)


class StudyGoneError(KeyError):
    """The study was deleted while its trials were being queued."""


def enqueue_trials(
    study: optuna.Study,
    backend: optuna.storages.BaseStorage,
    trials: Sequence[QueuedTrial],
    first_number: int,
    guard: Guard | None = None,
    after_batch: Callable[[], None] | None = None,
) -> None:
    """Queue ``trials`` as WAITING trials numbered from ``first_number`` (how many the study had before).

    ``guard(connection, study_id)`` runs inside each batch's transaction once the study is locked;
    ``after_batch()`` after each committed batch.
    """
    from optuna.storages import RDBStorage

    from hpo.store.retrying_storage import RetryingRDBStorage, retry_call

    if not isinstance(backend, RDBStorage):
        for params, marks in trials:
            study.enqueue_trial(params, user_attrs=marks)
        return
    study_id = backend.get_study_id_from_name(study.study_name)
    for start in range(0, len(trials), BATCH_SIZE):
        batch = (backend.engine, study_id, first_number + start, trials[start : start + BATCH_SIZE], guard)
        if isinstance(backend, RetryingRDBStorage):
            retry_call(_insert_batch, batch, {}, backend.outage_seconds, backend.describe)
        else:
            _insert_batch(*batch)
        if after_batch is not None:
            after_batch()


def _insert_batch(
    engine: sqlalchemy.Engine, study_id: int, first: int, batch: Sequence[QueuedTrial], guard: Guard | None
) -> None:
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    studies, trials = models.StudyModel.__table__, models.TrialModel.__table__
    with engine.begin() as connection:
        lock = sqlalchemy.update(studies).where(studies.c.study_id == study_id).values(study_name=studies.c.study_name)
        if connection.execute(lock).rowcount != 1:
            raise StudyGoneError(f"study id {study_id} was deleted while its trials were being queued")
        if guard is not None:
            guard(connection, study_id)
        count = sqlalchemy.select(sqlalchemy.func.count()).where(trials.c.study_id == study_id)
        done = int(connection.execute(count).scalar_one()) - first
        if done < 0:
            raise StudyGoneError(f"study id {study_id} lost trials while they were being queued")
        todo = batch[done:]
        if not todo:
            return  # committed before, its reply lost
        base = first + done
        rows = [{"study_id": study_id, "number": base + i, "state": TrialState.WAITING} for i in range(len(todo))]
        connection.execute(sqlalchemy.insert(trials), rows)
        numbered = sqlalchemy.select(trials.c.number, trials.c.trial_id).where(
            trials.c.study_id == study_id, trials.c.number >= base
        )
        ids = {number: trial_id for number, trial_id in connection.execute(numbered)}
        system = [
            {"trial_id": ids[base + i], "key": "fixed_params", "value_json": json.dumps(params)}
            for i, (params, _) in enumerate(todo)
        ]
        connection.execute(sqlalchemy.insert(models.TrialSystemAttributeModel.__table__), system)
        user = [
            {"trial_id": ids[base + i], "key": key, "value_json": json.dumps(value)}
            for i, (_, marks) in enumerate(todo)
            for key, value in (marks or {}).items()
        ]
        if user:
            connection.execute(sqlalchemy.insert(models.TrialUserAttributeModel.__table__), user)
