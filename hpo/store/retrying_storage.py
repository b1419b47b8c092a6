"""A storage that rides out database blips: every call is retried with backoff for a bounded time.

Postgres restarting, a failover, or connections cut by a pooler raise SQLAlchemy's
``OperationalError`` in the middle of a trial. Instead of failing the trial (or crashing the
worker), each storage call is retried with exponential backoff until ``outage_seconds`` have
passed; after that a :class:`~hpo.errors.StorageError` says the storage is gone.
``pool_pre_ping`` then hands out fresh connections once the server is back.

Both storages below get their retried methods the same way, from :data:`RETRIED` (and
:data:`RETRIED_RDB_PRIVATE`, the private RDB methods Optuna's trial cache calls directly); a test
checks that Optuna still has every one of them.

One caveat of retrying: a write whose commit succeeded but whose reply was lost is sent again.
For the calls a worker makes that is harmless (attributes and values are overwritten with the same
data, a repeated WAITING -> RUNNING claim is refused and the trial is recovered by its heartbeat),
except ``create_new_trial``, which can then create one extra WAITING trial.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from optuna.storages import GrpcStorageProxy
from optuna.storages._heartbeat import BaseHeartbeat

from hpo import attrs
from hpo.errors import StorageError
from hpo.store.atomic_claim import AtomicClaimRDBStorage

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from hpo.settings.config import FaultToleranceConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Every public storage method that talks to the database.
RETRIED = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_id_from_study_id_trial_number",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial",
    "get_all_trials",
)
# Private RDBStorage methods that Optuna's trial cache (_CachedStorage) calls on its backend.
RETRIED_RDB_PRIVATE = ("_create_new_trial", "_set_trial_param", "_get_trials", "_get_best_trial_id")
# RDBStorage's heartbeat methods (BaseHeartbeat's interface; the second is private to Optuna).
RETRIED_RDB_HEARTBEAT = ("record_heartbeat", "_get_stale_trial_ids")


def retry_call(
    method: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], outage_seconds: float, describe: str
) -> T:
    """``method(*args, **kwargs)``, retried with backoff while the storage is unreachable."""
    started = time.monotonic()
    delay = 0.5
    while True:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            cause = connection_failure(exc)
            if cause is None:
                raise
            waited = time.monotonic() - started
            if waited >= outage_seconds:
                raise StorageError(
                    f"storage {describe} unreachable for over {outage_seconds:g} s "
                    f"(fault_tolerance.db_outage_seconds): {cause}"
                ) from None
            logger.warning("storage call %s failed (%s); retrying in %.1f s", method.__name__, cause, delay)
            time.sleep(min(delay, outage_seconds - waited))
            delay = min(delay * 2, 10.0)


def connection_failure(exc: Exception) -> str | None:
    """A short name of the connection failure ``exc`` is, or None when it is another error."""
    import grpc
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    if isinstance(exc, StorageInternalError):  # Optuna wraps errors raised while committing
        exc = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return type(exc.orig).__name__
    if isinstance(exc, grpc.RpcError) and exc.code() in {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }:
        return f"gRPC {exc.code().name}"
    return None


def _install_retries(cls: type, names: tuple[str, ...], target: Callable[[Any, str], Callable[..., Any]]) -> None:
    """Give ``cls`` a method per name that calls ``target(self, name)`` (the parent's) through :func:`retry_call`."""

    def retried(name: str) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return retry_call(target(self, name), args, kwargs, self.outage_seconds, self.describe)

        method.__name__ = name
        return method

    for name in names:
        setattr(cls, name, retried(name))


class RetryingRDBStorage(AtomicClaimRDBStorage):
    """Optuna's RDB storage whose database calls are retried through outages.

    Being an ``RDBStorage``, Optuna still puts its trial cache in front of it (what keeps a study
    of 20,000 trials fast), and the heartbeat table works as usual once
    :meth:`use_fault_tolerance` has set the study's heartbeat settings.
    """

    def __init__(self, url: str, outage_seconds: float, describe: str, **kwargs: Any) -> None:
        self.outage_seconds = outage_seconds
        self.describe = describe
        super().__init__(url, **kwargs)

    def use_fault_tolerance(self, fault_tolerance: FaultToleranceConfig) -> None:
        """Heartbeat, grace period, stale-trial retry and outage limit of the study now known."""
        self.outage_seconds = fault_tolerance.db_outage_seconds
        # The attributes RDBStorage.__init__ sets from the same-named arguments.
        self.heartbeat_interval = fault_tolerance.heartbeat_interval
        self.grace_period = fault_tolerance.grace_period
        self.heartbeat_stale_trial_callback = _stale_trial_callback(fault_tolerance)
        self.failed_trial_callback = self.heartbeat_stale_trial_callback


_install_retries(
    RetryingRDBStorage,
    RETRIED + RETRIED_RDB_PRIVATE + RETRIED_RDB_HEARTBEAT,
    lambda self, name: getattr(super(RetryingRDBStorage, self), name),
)


class RetryingGrpcStorage(GrpcStorageProxy, BaseHeartbeat):
    """The gRPC storage proxy's client, its calls retried like :class:`RetryingRDBStorage`'s.

    The proxy does not carry Optuna's heartbeat table, so heartbeats are stored as a trial system
    attribute (:data:`hpo.attrs.HEARTBEAT`) and stale trials are found from it.
    """

    def __init__(self, host: str, port: int, outage_seconds: float, describe: str) -> None:
        self.outage_seconds = outage_seconds
        self.describe = describe
        self.fault_tolerance: FaultToleranceConfig | None = None
        super().__init__(host=host, port=port)

    def use_fault_tolerance(self, fault_tolerance: FaultToleranceConfig) -> None:
        """Heartbeat, grace period, stale-trial retry and outage limit of the study now known."""
        self.outage_seconds = fault_tolerance.db_outage_seconds
        self.fault_tolerance = fault_tolerance

    @property
    def grace_period(self) -> int | None:
        return None if self.fault_tolerance is None else self.fault_tolerance.grace_period

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, attrs.HEARTBEAT, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        from optuna.trial import TrialState

        if self.fault_tolerance is None:
            return []
        now, grace = time.time(), self.fault_tolerance.grace_period
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [
            self.get_trial_id_from_study_id_trial_number(study_id, t.number)
            for t in running
            if now - _last_beat(t, now) > grace
        ]

    def get_heartbeat_interval(self) -> int | None:
        return None if self.fault_tolerance is None else self.fault_tolerance.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return None if self.fault_tolerance is None else _stale_trial_callback(self.fault_tolerance)


_install_retries(RetryingGrpcStorage, RETRIED, lambda self, name: getattr(super(RetryingGrpcStorage, self), name))


def _last_beat(trial: FrozenTrial, now: float) -> float:
    start = trial.datetime_start.timestamp() if trial.datetime_start else now
    return float(trial.system_attrs.get(attrs.HEARTBEAT, start))


# What a trial is queued with (study, confirm, a replaced trial): what its retry keeps of it.
QUEUE_MARKS = (
    attrs.WARM_START,
    attrs.DEFAULT_RECIPE,
    attrs.CONFIRMS,
    attrs.SEED,
    attrs.REPLACES_TRIAL,
    attrs.OOM_REQUEUES,
)


def _stale_trial_callback(fault_tolerance: FaultToleranceConfig) -> Callable[[optuna.Study, FrozenTrial], None]:
    import optuna

    with warnings.catch_warnings():  # experimental in name only: the documented mechanism since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=fault_tolerance.max_retries)

    def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna's retry of a stale trial, as the trial was queued: the killed run's ``fail_reason``,
        results and heartbeat stay with the failed trial, not its retry."""
        queued = copy.copy(trial)
        queued.user_attrs = {k: v for k, v in trial.user_attrs.items() if k in QUEUE_MARKS}
        queued.system_attrs = {k: v for k, v in trial.system_attrs.items() if k not in (attrs.CLAIMED, attrs.HEARTBEAT)}
        retry(study, queued)

    return requeue
