"""Storage calls retried through database outages, and the Optuna methods the retry layer relies on."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from optuna.exceptions import StorageInternalError
from optuna.storages import GrpcStorageProxy, RDBStorage

from hpo.errors import StorageError
from hpo.store.retrying_storage import (
    RETRIED,
    RETRIED_RDB_HEARTBEAT,
    RETRIED_RDB_PRIVATE,
    RetryingGrpcStorage,
    RetryingRDBStorage,
)


def test_every_wrapped_optuna_method_still_exists() -> None:
    from optuna.storages._heartbeat import BaseHeartbeat

    for name in RETRIED + RETRIED_RDB_PRIVATE + RETRIED_RDB_HEARTBEAT:
        assert callable(getattr(RDBStorage, name, None)), f"RDBStorage.{name} is gone"
        assert getattr(RetryingRDBStorage, name) is not getattr(RDBStorage, name)
    for name in RETRIED:
        assert callable(getattr(GrpcStorageProxy, name, None)), f"GrpcStorageProxy.{name} is gone"
        assert getattr(RetryingGrpcStorage, name) is not getattr(GrpcStorageProxy, name)
    assert callable(getattr(BaseHeartbeat, "_get_stale_trial_ids", None))  # what trial_queue relies on
    # Optuna's trial cache calls these private methods on its backend: they must be retried too.
    for name in RETRIED_RDB_PRIVATE:
        assert f"_backend.{name}(" in Path(optuna.storages._cached_storage.__file__).read_text()


def _flaky(monkeypatch: pytest.MonkeyPatch, failures: int, error: Exception) -> list[int]:
    calls: list[int] = []
    original = RDBStorage.get_study_id_from_name

    def get_study_id_from_name(self: RDBStorage, name: str) -> int:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return original(self, name)

    monkeypatch.setattr(RDBStorage, "get_study_id_from_name", get_study_id_from_name)
    return calls


def _storage(tmp_path: Path, outage_seconds: float) -> RetryingRDBStorage:
    storage = RetryingRDBStorage(f"sqlite:///{tmp_path}/r.db", outage_seconds, "postgresql://u:***@db/hpo")
    optuna.create_study(study_name="s", storage=storage)
    return storage


def test_storage_calls_ride_out_a_blip_and_fail_clearly_after_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blip = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    storage = _storage(tmp_path, outage_seconds=30)
    calls = _flaky(monkeypatch, failures=2, error=blip)
    assert storage.get_study_id_from_name("s") == 1
    assert len(calls) == 3
    storage.outage_seconds = 1.2
    _flaky(monkeypatch, failures=10**6, error=blip)
    with pytest.raises(StorageError) as info:
        storage.get_study_id_from_name("s")
    assert str(info.value) == (
        "storage postgresql://u:***@db/hpo unreachable for over 1.2 s (fault_tolerance.db_outage_seconds): "
        "ConnectionError"
    )


def test_commit_failures_wrapped_by_optuna_are_retried_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        raise sqlalchemy.exc.OperationalError("COMMIT", {}, ConnectionError("terminating connection"))
    except sqlalchemy.exc.OperationalError as cause:
        wrapped = StorageInternalError("An exception is raised during the commit.")
        wrapped.__cause__ = cause
    storage = _storage(tmp_path, outage_seconds=30)
    calls = _flaky(monkeypatch, failures=1, error=wrapped)
    assert storage.get_study_id_from_name("s") == 1
    assert len(calls) == 2


def test_other_errors_are_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = _storage(tmp_path, outage_seconds=30)
    calls = _flaky(monkeypatch, failures=1, error=KeyError("no such study"))
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("s")
    assert len(calls) == 1
