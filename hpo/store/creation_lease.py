"""The lease a create-study holds on the study it writes, so that another create-study tells it apart.

A study without the complete mark is either being written now or was left half-created by an
interrupted create-study. Right after creating the study the creator records itself in it (the
study system attribute :data:`hpo.attrs.CREATOR`: host, process id, a random token and the time of
its last beat) and beats while it writes. Another create-study that finds the study waits while
the lease is alive, and removes the study only once it is stale: its process is gone (same host),
or it has not beaten for :data:`STALE_SECONDS` (any host).

A creator that finds its study removed or taken over (it stalled past the stale limit, say
through a long database outage) starts again rather than write into another's study: each batch
of queued trials checks the token in its own transaction.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hpo import attrs

if TYPE_CHECKING:
    import optuna
    import sqlalchemy

BEAT_SECONDS = 2.0
STALE_SECONDS = 30.0


class LeaseLostError(Exception):
    """The study this create-study was writing is no longer its own (removed, or taken over as abandoned)."""


@dataclass(frozen=True)
class Lease:
    """One create-study's claim on the study it is writing."""

    host: str
    pid: int
    token: str
    beat: float

    @classmethod
    def of(cls, value: Any) -> Lease | None:
        """The lease as stored; None when there is none (or it is not one)."""
        try:
            return cls(str(value["host"]), int(value["pid"]), str(value["token"]), float(value["beat"]))
        except (KeyError, TypeError, ValueError):
            return None

    def alive(self) -> bool:
        """Whether its create-study may still be writing: it beat lately, and its process exists when local."""
        if self.host == socket.gethostname() and not _process_exists(self.pid):
            return False
        return time.time() - self.beat < STALE_SECONDS

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


def read_lease(backend: optuna.storages.BaseStorage, study_id: int) -> Lease | None:
    return Lease.of(backend.get_study_system_attrs(study_id).get(attrs.CREATOR))


class LeaseHolder:
    """The lease of this process on one study: taken once, beaten while writing, checked before each write."""

    def __init__(self, backend: optuna.storages.BaseStorage, study_id: int) -> None:
        self._backend = backend
        self._study_id = study_id
        self.token = uuid.uuid4().hex
        self._last_beat = 0.0

    def take(self) -> None:
        self._write()

    def beat(self) -> None:
        """Renew the lease (at most every BEAT_SECONDS); LeaseLostError when it is no longer ours."""
        if time.monotonic() - self._last_beat < BEAT_SECONDS:
            return
        self.check()
        self._write()

    def check(self) -> None:
        try:
            lease = read_lease(self._backend, self._study_id)
        except KeyError:
            raise LeaseLostError("the study was removed by another create-study") from None
        if lease is None or lease.token != self.token:
            raise LeaseLostError("another create-study took the study over")

    def guard(self, connection: sqlalchemy.Connection, study_id: int) -> None:
        """:meth:`check` inside a transaction that holds the study's lock (see :mod:`hpo.store.bulk_enqueue`)."""
        import sqlalchemy
        from optuna.storages._rdb.models import StudySystemAttributeModel

        table = StudySystemAttributeModel.__table__
        stored = connection.execute(
            sqlalchemy.select(table.c.value_json).where(table.c.study_id == study_id, table.c.key == attrs.CREATOR)
        ).scalar_one_or_none()
        lease = None if stored is None else Lease.of(json.loads(stored))
        if lease is None or lease.token != self.token:
            raise LeaseLostError("another create-study took the study over")

    def is_ours(self) -> bool:
        try:
            self.check()
        except LeaseLostError:
            return False
        return True

    def _write(self) -> None:
        lease = Lease(socket.gethostname(), os.getpid(), self.token, time.time())
        try:
            self._backend.set_study_system_attr(self._study_id, attrs.CREATOR, asdict(lease))
        except KeyError:
            raise LeaseLostError("the study was removed by another create-study") from None
        self._last_beat = time.monotonic()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


# How far along a study's creation is (see creation_state).
COMPLETE = "complete"  # marked complete (or not hpo's: nothing to finish)
WRITING = "being written"  # a live lease: its create-study is at work
HALF_CREATED = "half-created"  # a stale lease, or an older hpo's study short of its budget
HUSK = "husk"  # created a moment ago, or left right after creation: nothing in it yet


def creation_state(backend: optuna.storages.BaseStorage, study_id: int) -> tuple[str, Lease | None]:
    """How far the study's creation got, and the lease of its creator if it has one.

    Studies from before the mark count as complete when their whole budget is queued.
    """
    user = backend.get_study_user_attrs(study_id)
    if user.get(attrs.COMPLETE):
        return COMPLETE, None
    lease = read_lease(backend, study_id)
    if lease is not None:
        return (WRITING if lease.alive() else HALF_CREATED), lease
    trials = len(backend.get_all_trials(study_id, deepcopy=False))
    if attrs.CONFIG not in user:
        return (HUSK if not user and trials == 0 else COMPLETE), None
    config = user[attrs.CONFIG]
    budget = config.get("budget", {}).get("n_trials", 0) if isinstance(config, dict) else 0
    return (COMPLETE if trials >= budget else HALF_CREATED), None
