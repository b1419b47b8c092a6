"""The storage URL as a value: where it comes from, what it shows, and the storage it opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.errors import StorageError, UsageError
from hpo.settings.config import FaultToleranceConfig
from hpo.store.storage import (
    DEFAULT_STORAGE,
    StorageUrl,
    is_loopback_host,
    open_storage,
    open_worker_storage,
    use_fault_tolerance,
)


def test_url_comes_from_cli_then_environment_then_default() -> None:
    assert StorageUrl.resolve(None, {}).secret == DEFAULT_STORAGE == "sqlite:///hpo.db"
    environ = {"HPO_STORAGE": "sqlite:///env.db"}
    assert StorageUrl.resolve(None, environ).secret == "sqlite:///env.db"
    assert StorageUrl.resolve("sqlite:///cli.db", environ).secret == "sqlite:///cli.db"


def test_unsupported_scheme_is_one_line_without_the_password() -> None:
    with pytest.raises(UsageError) as info:
        StorageUrl.parse("mysql://admin:s3cret@db/optuna")
    assert str(info.value) == (
        "storage URL 'mysql://admin:***@db/optuna': unsupported scheme 'mysql' "
        "(use sqlite:///FILE.db, postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB or grpc://HOST:PORT)"
    )


# (url, redacted form, the secrets that must never show)
SECRET_URLS = [
    (
        "postgresql+psycopg2://hpo:p%40ss@db.internal:5432/studies",
        "postgresql+psycopg2://hpo:***@db.internal:5432/studies",
        ["p@ss", "p%40ss"],
    ),
    (
        "postgresql+psycopg2://hpo:p@ss@db.internal:5432/studies",
        "postgresql+psycopg2://hpo:***@db.internal:5432/studies",
        ["p@ss", "p%40ss"],
    ),
    (
        "postgresql://db.internal:5432/studies?password=t0psecret&sslmode=require",
        "postgresql://db.internal:5432/studies?password=***&sslmode=require",
        ["t0psecret"],
    ),
    ("postgresql://u@db/s?sslpassword=k3y", "postgresql://u@db/s?sslpassword=***", ["k3y"]),
    ("postgresql://u:a%2Fb%3Fc@db/s", "postgresql://u:***@db/s", ["a/b?c", "a%2Fb%3Fc"]),
]


@pytest.mark.parametrize(("url", "redacted", "secrets"), SECRET_URLS)
def test_every_form_of_password_is_redacted(url: str, redacted: str, secrets: list[str]) -> None:
    parsed = StorageUrl.parse(url)
    assert str(parsed) == redacted == parsed.redacted
    assert all(secret not in repr(parsed) for secret in secrets)
    for secret in secrets:
        assert parsed.scrub(f"failed for {secret} at host") == "failed for *** at host"


def test_a_password_with_an_at_sign_connects_as_written() -> None:
    parsed = StorageUrl.parse("postgresql+psycopg2://hpo:p@ss@db.internal:5432/studies")
    assert (parsed.host, parsed.port, parsed.database) == ("db.internal", 5432, "studies")
    assert parsed.secret == "postgresql+psycopg2://hpo:p%40ss@db.internal:5432/studies"


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused(url: str) -> None:
    with pytest.raises(UsageError) as info:
        StorageUrl.parse(url)
    assert str(info.value).endswith(
        "is an in-memory database that vanishes when the command ends; give a file: sqlite:///hpo.db"
    )


def test_grpc_urls_and_loopback() -> None:
    proxy = StorageUrl.parse("grpc://10.0.0.5:13000")
    assert (proxy.scheme, proxy.host, proxy.port, proxy.is_loopback) == ("grpc", "10.0.0.5", 13000, False)
    assert StorageUrl.parse("postgresql://u@localhost/db").is_loopback
    assert StorageUrl.parse("postgresql://u@[::1]:5432/db").is_loopback
    assert StorageUrl.parse("postgresql:///db").is_loopback  # a local socket
    with pytest.raises(UsageError, match=r"^storage URL 'grpc://proxy': give the proxy as grpc://HOST:PORT$"):
        StorageUrl.parse("grpc://proxy")


LOOPBACK_FORMS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "0x7f.1",
    "0x7F000001",
    "2130706433",
    "0177.0.0.1",
    "017700000001",
    "127.255.255.254",
    "0",
    "0.0.0.0",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::0001",
    "[::1]",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_form_of_a_loopback_address_the_c_library_reads_is_loopback(host: str) -> None:
    import ipaddress
    import socket

    # The C library reads the form as this machine (what the database client would connect to) ...
    for info in socket.getaddrinfo(host.strip("[]"), 5432, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(info[4][0])
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        assert (mapped or address).is_loopback or (mapped or address).is_unspecified
    # ... and so does the check that keeps local storage away from the cloud.
    assert is_loopback_host(host)
    in_url = f"[{host}]" if ":" in host and not host.startswith("[") else host
    assert StorageUrl.parse(f"postgresql://u:pw@{in_url}/db").is_loopback


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "ip6-localhost", "localhost.localdomain"])
def test_the_names_of_this_machine_are_loopback(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.1", "128.0.0.1", "1.2.3", "0x80.1", "::2", "db.example.com", "127.0.0.1.5", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_reading_commands_never_create_a_sqlite_file(tmp_path: Path) -> None:
    url = StorageUrl.parse(f"sqlite:///{tmp_path}/typo.db")
    for opening in (open_storage, open_worker_storage):
        with pytest.raises(UsageError) as info:
            opening(url)
        assert str(info.value) == (
            f"storage file {tmp_path}/typo.db does not exist; create a study there first "
            f"(hpo create-study --config FILE --storage {url})"
        )
    assert not (tmp_path / "typo.db").exists()
    assert open_storage(url, create=True).study_names() == []


def test_unreachable_postgres_is_a_clear_error_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hpo.store.storage.CONNECT_RETRY_SECONDS", 0.0)
    with pytest.raises(StorageError) as info:
        open_storage(StorageUrl.parse("postgresql+psycopg2://hpo:topsecret@127.0.0.1:1/none?sslpassword=k3y"))
    message = str(info.value)
    assert message.startswith("cannot open storage postgresql+psycopg2://hpo:***@127.0.0.1:1/none?sslpassword=***: ")
    assert "topsecret" not in message and "k3y" not in message
    assert "\n" not in message


def test_worker_storage_gets_the_study_heartbeat_once_known(tmp_path: Path) -> None:
    url = StorageUrl.parse(f"sqlite:///{tmp_path}/h.db")
    open_storage(url, create=True)
    storage = open_worker_storage(url)
    assert storage.backend.get_heartbeat_interval() is None  # type: ignore[attr-defined]
    use_fault_tolerance(storage, FaultToleranceConfig(heartbeat_interval=5, grace_period=20, db_outage_seconds=7))
    assert storage.backend.get_heartbeat_interval() == 5  # type: ignore[attr-defined]
    assert storage.backend.outage_seconds == 7  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        use_fault_tolerance(open_storage(storage.url), FaultToleranceConfig())
