"""Optuna's RDB storage with a WAITING -> RUNNING claim that two processes cannot both win.

Optuna's ``RDBStorage.set_trial_state_values`` reads the trial with ``SELECT ... FOR UPDATE`` and
then writes RUNNING. SQLite has no ``FOR UPDATE``, and its driver runs the read outside a
transaction, so two workers on one SQLite file can both read WAITING and both claim the trial:
both then train it, and the slower one fails writing to a trial the other has finished. Here the
claim is one conditional ``UPDATE ... WHERE state = 'WAITING'``, atomic on every database. It
uses Optuna's table model (``optuna.storages._rdb.models.TrialModel``, private), the same table
the storage itself writes; ``tests/hpo/test_atomic_claim.py`` races it.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import TrialState


class AtomicClaimRDBStorage(RDBStorage):
    """``RDBStorage`` whose claim of a WAITING trial is a single conditional update."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            # A start that failed (a full server, say) closes what it opened: a worker waiting
            # for a free connection must not hold one meanwhile.
            engine = getattr(self, "engine", None)
            if engine is not None:
                engine.dispose()
            raise

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        if state != TrialState.RUNNING or values is not None:
            return super().set_trial_state_values(trial_id, state, values)
        from optuna.storages._rdb.models import TrialModel

        trials = TrialModel.__table__
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # Optuna stores naive UTC
        claim = (
            sqlalchemy.update(trials)
            .where(trials.c.trial_id == trial_id, trials.c.state == TrialState.WAITING)
            .values(state=TrialState.RUNNING, datetime_start=now)
        )
        with self.engine.begin() as connection:
            if connection.execute(claim).rowcount == 1:
                return True
        # As Optuna answers: a finished trial raises UpdateFinishedTrialError, a running one is refused.
        self.check_trial_is_updatable(trial_id, self.get_trial(trial_id).state)
        return False
