"""Storage calls retried through database outages, and the Optuna methods the retry layer relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE

import optuna
import pytest
import sqlalchemy
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
from hpo.store.storage import StorageUrl, open_storage
from tests.conftest import POSTGRES_URL
from tests.helpers import load_study, retrieval_config, write_config


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


@pytest.mark.postgres
def test_create_study_rides_out_a_postgres_restart(tmp_path: Path, tiny_model: str, postgres_url: str) -> None:
    """Connections cut mid-creation, then refused for seconds, as a restart does: the study is still created once."""
    budget = 3000
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": budget}))
    open_storage(StorageUrl.parse(postgres_url), create=True)  # the schema, so that the lock below has a table
    database = postgres_url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    study_db = sqlalchemy.create_engine(postgres_url)
    holder = study_db.connect()
    holder.begin()
    holder.execute(sqlalchemy.text("LOCK TABLE trials IN EXCLUSIVE MODE"))  # the budget waits: mid-creation
    command = [sys.executable, "-m", "hpo", "create-study", "--config", str(config)]
    run = subprocess.Popen(
        command, env={**os.environ, "HPO_STORAGE": postgres_url}, stdout=PIPE, stderr=PIPE, text=True
    )
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"
    deadline = time.monotonic() + 120
    with admin.connect() as conn:
        while not conn.execute(sqlalchemy.text(waiting), {"db": database}).scalar():
            assert time.monotonic() < deadline and run.poll() is None, "create-study never reached its budget"
            time.sleep(0.1)
        # The restart: new connections refused, every open one cut (the lock goes with it), then back.
        conn.execute(sqlalchemy.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        conn.execute(
            sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
            {"db": database},
        )
        time.sleep(4)
        conn.execute(sqlalchemy.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
    holder.invalidate()
    study_db.dispose()
    admin.dispose()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    assert out == "tiny-retrieval\n" and "retrying" in err
    study = load_study(postgres_url)
    assert study.user_attrs["hpo_complete"] is True
    assert [t.number for t in study.get_trials(deepcopy=False)] == list(range(budget))  # each trial queued once
    assert {t.state.name for t in study.get_trials(deepcopy=False)} == {"WAITING"}
