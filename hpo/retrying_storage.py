"""A storage that rides out database blips: every call is retried with backoff for a bounded time.

Postgres restarting, a failover, or connections cut by a pooler raise SQLAlchemy's
``OperationalError`` in the middle of a trial. Instead of failing the trial (or crashing the
worker), each storage call is retried with exponential backoff until ``outage_seconds`` have
passed; after that a :class:`~hpo.errors.StorageError` says the storage is gone.
``pool_pre_ping`` then hands out fresh connections once the server is back.

One caveat of retrying: a write whose commit succeeded but whose reply was lost is sent again.
For the calls a worker makes that is harmless (attributes and values are overwritten with the same
data, a repeated WAITING -> RUNNING claim is refused and the trial is recovered by its heartbeat),
except ``create_new_trial``, which can then create one extra WAITING trial.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat

from hpo.errors import StorageError

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.study import StudyDirection
    from optuna.study._frozen import FrozenStudy
    from optuna.trial import FrozenTrial, TrialState

    from hpo.config import FaultToleranceConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")
HEARTBEAT_ATTR = "hpo_heartbeat"


class RetryingStorage(BaseStorage, BaseHeartbeat):
    """Wraps another storage (the gRPC proxy's client), retrying calls that fail for a lost connection."""

    def __init__(
        self,
        inner: BaseStorage,
        outage_seconds: float,
        describe: str,
        attr_heartbeat: FaultToleranceConfig | None = None,
    ) -> None:
        self.inner = inner
        self.rdb: Any = inner  # the RDB storage's heartbeat methods, used when attr_heartbeat is None
        self.outage_seconds = outage_seconds
        self.describe = describe
        # Set for the gRPC proxy, which has no heartbeat table: beats are stored as a trial attribute.
        self.attr_heartbeat = attr_heartbeat

    def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return retry_call(method, args, kwargs, self.outage_seconds, self.describe)

    @property
    def grace_period(self) -> int | None:
        if self.attr_heartbeat is not None:
            return self.attr_heartbeat.grace_period
        grace: int | None = self.rdb.grace_period
        return grace

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        return self._call(self.inner.create_new_study, directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self._call(self.inner.delete_study, study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call(self.inner.set_study_user_attr, study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call(self.inner.set_study_system_attr, study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._call(self.inner.get_study_id_from_name, study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._call(self.inner.get_study_name_from_id, study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._call(self.inner.get_study_directions, study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._call(self.inner.get_study_user_attrs, study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._call(self.inner.get_study_system_attrs, study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self._call(self.inner.get_all_studies)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return self._call(self.inner.create_new_trial, study_id, template_trial)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: BaseDistribution
    ) -> None:
        self._call(self.inner.set_trial_param, trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._call(self.inner.get_trial_id_from_study_id_trial_number, study_id, trial_number)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        return self._call(self.inner.set_trial_state_values, trial_id, state, values)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self._call(self.inner.set_trial_intermediate_value, trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call(self.inner.set_trial_user_attr, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call(self.inner.set_trial_system_attr, trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._call(self.inner.get_trial, trial_id)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._call(self.inner.get_all_trials, study_id, deepcopy, states)

    def record_heartbeat(self, trial_id: int) -> None:
        if self.attr_heartbeat is not None:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        else:
            self._call(self.rdb.record_heartbeat, trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        if self.attr_heartbeat is None:
            stale: list[int] = self._call(self.rdb._get_stale_trial_ids, study_id)
            return stale
        from optuna.trial import TrialState

        now, grace = time.time(), self.attr_heartbeat.grace_period
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [
            self.get_trial_id_from_study_id_trial_number(study_id, t.number)
            for t in running
            if now
            - float(t.system_attrs.get(HEARTBEAT_ATTR, t.datetime_start.timestamp() if t.datetime_start else now))
            > grace
        ]

    def get_heartbeat_interval(self) -> int | None:
        if self.attr_heartbeat is not None:
            return self.attr_heartbeat.heartbeat_interval
        interval: int | None = self.rdb.get_heartbeat_interval()
        return interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        if self.attr_heartbeat is not None:
            import warnings

            import optuna

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=self.attr_heartbeat.max_retries)
        callback: Callable[[optuna.Study, FrozenTrial], None] | None = self.rdb.get_heartbeat_stale_trial_callback()
        return callback


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
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    if isinstance(exc, StorageInternalError):  # Optuna wraps errors raised while committing
        exc = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return type(exc.orig).__name__
    try:
        import grpc
    except ImportError:  # pragma: no cover - grpcio is a dependency
        return None
    if isinstance(exc, grpc.RpcError) and exc.code() in {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }:
        return f"gRPC {exc.code().name}"
    return None


class RetryingRDBStorage(RDBStorage):
    """Optuna's RDB storage whose database calls are retried through outages, like :class:`RetryingStorage`.

    Being an ``RDBStorage``, Optuna still puts its trial cache in front of it (what keeps a study
    of 20,000 trials fast), and the heartbeat table works as usual.
    """

    def __init__(self, url: str, outage_seconds: float, describe: str, **kwargs: Any) -> None:
        self.outage_seconds = outage_seconds
        self.describe = describe
        super().__init__(url, **kwargs)

    def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return retry_call(method, args, kwargs, self.outage_seconds, self.describe)


# Every method that talks to the database, the private ones Optuna's cache calls included.
_RETRIED = (
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
    "_create_new_trial",
    "set_trial_param",
    "_set_trial_param",
    "get_trial_id_from_study_id_trial_number",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial",
    "get_all_trials",
    "_get_trials",
    "_get_best_trial_id",
    "record_heartbeat",
    "_get_stale_trial_ids",
)


def _retried(name: str) -> Callable[..., Any]:
    def method(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return self._call(getattr(super(RetryingRDBStorage, self), name), *args, **kwargs)

    method.__name__ = name
    return method


for _name in _RETRIED:
    setattr(RetryingRDBStorage, _name, _retried(_name))
