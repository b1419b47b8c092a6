"""Where studies live: resolve the storage URL, open Optuna's RDB storage, keep passwords out of output.

``--storage``, else ``HPO_STORAGE``, else the embedded ``sqlite:///hpo.db``. Postgres engines get
``pool_pre_ping``, a small pool per process and connect retries with backoff at start-up.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hpo.errors import StorageError, UsageError

if TYPE_CHECKING:
    import optuna

    from hpo.config import FaultToleranceConfig
    from hpo.retrying_storage import RetryingRDBStorage, RetryingStorage

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R", bound="optuna.storages.RDBStorage")

DEFAULT_STORAGE = "sqlite:///hpo.db"
STORAGE_ENV = "HPO_STORAGE"
_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "grpc")
CONNECT_RETRY_SECONDS = 30.0


def resolve_storage_url(cli_value: str | None) -> str:
    """The URL from ``--storage``, else ``$HPO_STORAGE``, else the embedded SQLite default."""
    url = cli_value or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in _SCHEMES:
        raise UsageError(
            f"storage URL '{redact(url)}': unsupported scheme '{scheme}' "
            "(use sqlite:///FILE.db, postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB or grpc://HOST:PORT)"
        )
    return url


def redact(url: str) -> str:
    """The URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)([^@]*)(@)", r"\1***\3", url)


def scrub(text: str, url: str) -> str:
    """``text`` with the URL's password removed wherever it appears (error messages, tracebacks)."""
    match = re.search(r"://[^:/@]+:([^@]*)@", url)
    if match and match.group(1):
        text = text.replace(match.group(1), "***")
    return text


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage for ``url``, for short commands (no heartbeat): RDB, or the gRPC storage proxy."""
    if url.startswith("grpc://"):
        return _grpc_proxy(url)
    return _connect(url, {})


def _grpc_proxy(url: str) -> optuna.storages.BaseStorage:
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("grpc://", "grpc+proxy://", 1))
    if not parsed.host or not parsed.port:
        raise UsageError(f"storage URL '{url}': give the proxy as grpc://HOST:PORT")
    try:
        from optuna.storages import GrpcStorageProxy
    except ImportError:  # pragma: no cover - grpcio is a dependency
        raise UsageError("grpc:// storage needs grpcio: pip install grpcio") from None
    proxy = GrpcStorageProxy(host=parsed.host, port=parsed.port)
    try:
        proxy.wait_server_ready(timeout=CONNECT_RETRY_SECONDS)
    except Exception:
        raise StorageError(f"cannot reach the storage proxy at {url} (start one with: hpo storage-proxy)") from None
    return proxy


def open_worker_storage(url: str, fault_tolerance: FaultToleranceConfig) -> RetryingRDBStorage | RetryingStorage:
    """The storage a worker uses: heartbeats, stale-trial retry, and calls retried through outages."""
    import optuna

    from hpo.retrying_storage import RetryingRDBStorage, RetryingStorage

    with warnings.catch_warnings():  # experimental in name only: the documented mechanism since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=fault_tolerance.max_retries)
    heartbeat = {
        "heartbeat_interval": fault_tolerance.heartbeat_interval,
        "grace_period": fault_tolerance.grace_period,
        "heartbeat_stale_trial_callback": retry,
    }
    if url.startswith("grpc://"):
        # The proxy does not carry Optuna's heartbeat table: heartbeats travel as trial attributes.
        return RetryingStorage(
            _grpc_proxy(url), fault_tolerance.db_outage_seconds, redact(url), attr_heartbeat=fault_tolerance
        )
    outage = {"outage_seconds": fault_tolerance.db_outage_seconds, "describe": redact(url)}
    storage: RetryingRDBStorage = _connect(url, {**heartbeat, **outage}, RetryingRDBStorage)
    return storage


def _connect(url: str, options: dict[str, object], storage_class: type[R] | None = None) -> R:
    import optuna
    from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

    @retry(
        retry=retry_if_exception(_worth_retrying),
        stop=stop_after_delay(CONNECT_RETRY_SECONDS if url.startswith("postgresql") else 0),
        wait=wait_exponential(multiplier=0.5, max=5),
        reraise=True,
        before_sleep=lambda state: logger.warning("storage not reachable yet, retrying: %s", redact(url)),
    )
    def connect() -> R:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            cls: Any = storage_class or optuna.storages.RDBStorage
            return cls(url, engine_kwargs=_engine_kwargs(url), **options)  # type: ignore[no-any-return]

    try:
        return _first_connect(connect)
    except Exception as exc:  # sqlalchemy and driver errors; their text may contain the URL
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {redact(url)}: {scrub(first, url)}") from None


def check_reachable_from_cloud(url: str) -> None:
    """Raise unless a container elsewhere could reach this storage (no SQLite file, no localhost)."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        raise UsageError(
            f"storage URL '{redact(url)}' is a local SQLite file that a cloud container cannot reach; "
            "use a Postgres URL reachable from the internet (managed, or tunnelled)"
        )
    host = make_url(url).host or "localhost"
    try:
        loopback = ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        raise UsageError(
            f"storage host '{host}' in '{redact(url)}' is this machine, which a cloud container cannot reach; "
            "use a Postgres reachable from the internet (managed, or tunnelled)"
        )


def _worth_retrying(exc: BaseException) -> bool:
    """A connection failure that waiting may cure (not a wrong database name or password)."""
    from hpo.retrying_storage import connection_failure

    permanent = ("does not exist", "authentication failed", "no password supplied")
    return (
        isinstance(exc, Exception) and connection_failure(exc) is not None and not any(p in str(exc) for p in permanent)
    )


def _first_connect(connect: Callable[[], T]) -> T:
    """``connect()``, retried when workers starting together race to create Optuna's tables."""
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            return connect()
        except (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError) as exc:
            if attempt == 4 or not any(s in str(exc) for s in ("already exists", "duplicate key")):
                raise
            logger.debug("schema created concurrently by another process; retrying")
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _engine_kwargs(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        # Workers share the file: wait for the write lock instead of failing at once.
        return {"connect_args": {"timeout": 60}}
    return {
        "pool_pre_ping": True,
        "pool_size": 2,
        "max_overflow": 2,
        "pool_recycle": 300,
        "connect_args": {"connect_timeout": 10, "application_name": "hpo"},
    }
