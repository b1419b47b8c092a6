from __future__ import annotations

import pytest

from hpo.errors import StorageError, UsageError
from hpo.storage import DEFAULT_STORAGE, open_storage, open_worker_storage, redact, resolve_storage_url, scrub


def test_url_comes_from_cli_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    assert resolve_storage_url(None) == DEFAULT_STORAGE == "sqlite:///hpo.db"
    monkeypatch.setenv("HPO_STORAGE", "sqlite:///env.db")
    assert resolve_storage_url(None) == "sqlite:///env.db"
    assert resolve_storage_url("sqlite:///cli.db") == "sqlite:///cli.db"


def test_unsupported_scheme_is_one_line_without_the_password() -> None:
    with pytest.raises(UsageError) as info:
        resolve_storage_url("mysql://admin:s3cret@db/optuna")
    assert str(info.value) == (
        "storage URL 'mysql://admin:***@db/optuna': unsupported scheme 'mysql' "
        "(use sqlite:///FILE.db, postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB or grpc://HOST:PORT)"
    )


def test_redact_and_scrub_hide_the_password() -> None:
    url = "postgresql+psycopg2://hpo:p%40ss@db.internal:5432/studies"
    assert redact(url) == "postgresql+psycopg2://hpo:***@db.internal:5432/studies"
    assert scrub("failed for p%40ss at host", url) == "failed for *** at host"
    assert redact("sqlite:///hpo.db") == "sqlite:///hpo.db"


def test_unreachable_postgres_is_a_clear_error_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hpo.storage.CONNECT_RETRY_SECONDS", 0.0)
    url = "postgresql+psycopg2://hpo:topsecret@127.0.0.1:1/none"
    with pytest.raises(StorageError) as info:
        open_storage(url)
    message = str(info.value)
    assert message.startswith("cannot open storage postgresql+psycopg2://hpo:***@127.0.0.1:1/none: ")
    assert "topsecret" not in message
    assert "\n" not in message


def test_sqlite_storage_opens_with_heartbeat(tmp_path: object) -> None:
    from hpo.config import FaultToleranceConfig

    storage = open_worker_storage(
        f"sqlite:///{tmp_path}/h.db", FaultToleranceConfig(heartbeat_interval=5, grace_period=20)
    )
    assert storage.get_heartbeat_interval() == 5
