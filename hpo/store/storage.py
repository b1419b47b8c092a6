"""Where studies live: the storage URL as a value that never prints its secrets, and the opened storage.

``--storage``, else ``HPO_STORAGE``, else the embedded ``sqlite:///hpo.db``. Postgres engines get
``pool_pre_ping``, a small pool per process and connect retries with backoff at start-up. A
worker's storage also retries every call through database outages and keeps heartbeats.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hpo.errors import StorageError, UsageError

if TYPE_CHECKING:
    import optuna
    from sqlalchemy.engine import URL

    from hpo.settings.config import FaultToleranceConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P", bound="optuna.storages.GrpcStorageProxy")

DEFAULT_STORAGE = "sqlite:///hpo.db"
STORAGE_ENV = "HPO_STORAGE"
PASSWORD_FILE_ENV = "HPO_STORAGE_PASSWORD_FILE"  # a secret file, e.g. /run/secrets/postgres-password
SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "grpc")
CONNECT_RETRY_SECONDS = 30.0
DEFAULT_OUTAGE_SECONDS = 300.0  # until the study's own fault_tolerance.db_outage_seconds is known
# Query parameters whose values are secrets (libpq's password and sslpassword, tokens of proxies).
SECRET_PARAMETERS = ("password", "passwd", "pwd", "sslpassword", "secret", "token", "api_key", "apikey")
_SCHEME_HELP = "use sqlite:///FILE.db, postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB or grpc://HOST:PORT"


@dataclass(frozen=True)
class StorageUrl:
    """A storage URL. ``str()`` and ``repr()`` show it redacted; only :attr:`secret` connects.

    The password is read with SQLAlchemy's own URL parsing; a password with an unencoded ``@``
    is taken whole (everything up to the last ``@`` of the address is user information).
    """

    secret: str = field(repr=False)
    scheme: str
    host: str | None
    port: int | None
    database: str | None
    redacted: str
    secrets: tuple[str, ...] = field(repr=False)

    @classmethod
    def parse(cls, value: str) -> StorageUrl:
        """Parse and check a URL; a one-line :class:`UsageError` names what is wrong, redacted."""
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in SCHEMES:
            raise UsageError(f"storage URL '{_fallback_redact(value)}': unsupported scheme '{scheme}' ({_SCHEME_HELP})")
        if scheme == "grpc":
            return _parse_grpc(value)
        url = _sqlalchemy_url(value)
        secrets = tuple(s for s in (url.password, *_secret_values(url.query)) if s)
        redacted = _redacted(url)
        if scheme == "sqlite" and url.database in (None, "", ":memory:"):
            raise UsageError(
                f"storage URL '{redacted}' is an in-memory database that vanishes when the command ends; "
                "give a file: sqlite:///hpo.db"
            )
        secret = url.render_as_string(hide_password=False)
        return cls(secret, scheme, url.host, url.port, url.database, redacted, secrets)

    @classmethod
    def resolve(cls, cli_value: str | None, environ: Mapping[str, str]) -> StorageUrl:
        """The URL from ``--storage``, else ``$HPO_STORAGE``, else the embedded SQLite default; a
        Postgres URL without a password takes the one in ``$HPO_STORAGE_PASSWORD_FILE`` if set."""
        url = cls.parse(cli_value or environ.get(STORAGE_ENV) or DEFAULT_STORAGE)
        password_file = environ.get(PASSWORD_FILE_ENV)
        if password_file and url.is_postgres and not url.secrets:
            return url.with_password(_read_password(Path(password_file)))
        return url

    def with_password(self, password: str) -> StorageUrl:
        """This URL with ``password`` as its password."""
        url = _sqlalchemy_url(self.secret).set(password=password)
        return StorageUrl.parse(url.render_as_string(hide_password=False))

    def __str__(self) -> str:
        return self.redacted

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == "sqlite"

    @property
    def is_grpc(self) -> bool:
        return self.scheme == "grpc"

    @property
    def is_postgres(self) -> bool:
        return self.scheme.startswith("postgresql")

    @property
    def is_loopback(self) -> bool:
        """Whether the server is this machine (or the URL names no host, which means a local socket)."""
        return self.host is None or is_loopback_host(self.host)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this URL replaced by ***, in plain and percent-encoded form."""
        for secret in self.secrets:
            for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
                text = text.replace(form, "***")
        return text


def _read_password(path: Path) -> str:
    """The password in ``path`` (a secret file: one line, its line break not part of it)."""
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"{PASSWORD_FILE_ENV}={path}: cannot read the password file ({reason})") from None
    if not password:
        raise UsageError(f"{PASSWORD_FILE_ENV}={path}: the password file is empty")
    return password


# The names of this machine in every stock hosts file.
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this machine: localhost, 127.0.0.0/8, ::1 or the unspecified address.

    Addresses are read as the C library reads them (what the database client connects to), so the
    short forms count too: ``127.1``, ``0x7f.1``, ``2130706433``, ``0177.0.0.1``, ``[::1]``,
    ``::ffff:127.0.0.1``.
    """
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    address = host_address(host)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``host`` spells, in any form ``inet_aton`` or ``inet_pton`` accepts; None for a name."""
    import socket

    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not text or any(c.isspace() for c in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))  # 127.1, 0x7f.1, 2130706433, 0177.0.0.1
    except OSError:
        return None


@dataclass(frozen=True)
class Storage:
    """An opened storage and the URL it was opened from: the two always travel together."""

    url: StorageUrl
    backend: optuna.storages.BaseStorage

    def study_names(self) -> list[str]:
        return [s.study_name for s in self.backend.get_all_studies()]


def open_storage(url: StorageUrl, create: bool = False) -> Storage:
    """The storage for short commands: Optuna's RDB storage, or the gRPC storage proxy.

    A SQLite file is created only with ``create`` (create-study, the proxy): a command that reads
    studies refuses a file that does not exist rather than leave an empty database behind a typo.
    The commands that write (``create``) ride out a database restart as workers do.
    """
    import optuna

    if create:
        return _retrying_storage(url)
    _require_sqlite_file(url)
    if url.is_grpc:
        return Storage(url, _grpc_proxy(url, optuna.storages.GrpcStorageProxy))
    from hpo.store.atomic_claim import AtomicClaimRDBStorage

    return Storage(url, _connect(url, AtomicClaimRDBStorage))


def open_worker_storage(url: StorageUrl) -> Storage:
    """A worker's storage: every call retried through outages, heartbeats once :func:`use_fault_tolerance` ran."""
    _require_sqlite_file(url)
    return _retrying_storage(url)


def _retrying_storage(url: StorageUrl) -> Storage:
    """A storage whose every call is retried through database outages (for DEFAULT_OUTAGE_SECONDS at first)."""
    from hpo.store.retrying_storage import RetryingGrpcStorage, RetryingRDBStorage

    def rdb(secret: str, **kwargs: Any) -> RetryingRDBStorage:
        return RetryingRDBStorage(secret, DEFAULT_OUTAGE_SECONDS, url.redacted, **kwargs)

    def grpc(host: str, port: int) -> RetryingGrpcStorage:
        return RetryingGrpcStorage(host, port, DEFAULT_OUTAGE_SECONDS, url.redacted)

    return Storage(url, _grpc_proxy(url, grpc) if url.is_grpc else _connect(url, rdb))


def use_fault_tolerance(storage: Storage, fault_tolerance: FaultToleranceConfig) -> None:
    """Apply a study's heartbeat, stale-trial retry and outage settings to a worker's storage."""
    from hpo.store.retrying_storage import RetryingGrpcStorage, RetryingRDBStorage

    if not isinstance(storage.backend, (RetryingRDBStorage, RetryingGrpcStorage)):
        raise TypeError("fault tolerance applies only to a storage opened by open_worker_storage")
    storage.backend.use_fault_tolerance(fault_tolerance)


def _require_sqlite_file(url: StorageUrl) -> None:
    if url.is_sqlite and url.database and not Path(url.database).expanduser().is_file():
        raise UsageError(
            f"storage file {url.database} does not exist; create a study there first "
            f"(hpo create-study --config FILE --storage {url})"
        )


def _grpc_proxy(url: StorageUrl, proxy_class: Callable[..., P]) -> P:
    if not url.host or not url.port:
        raise UsageError(f"storage URL '{url}': give the proxy as grpc://HOST:PORT")
    proxy = proxy_class(host=url.host, port=url.port)
    try:
        proxy.wait_server_ready(timeout=CONNECT_RETRY_SECONDS)
    except Exception:
        raise StorageError(f"cannot reach the storage proxy at {url} (start one with: hpo storage-proxy)") from None
    return proxy


def _connect(url: StorageUrl, storage_class: Callable[..., T]) -> T:
    import optuna
    from tenacity import RetryCallState, retry, retry_if_exception, wait_exponential

    def stop(state: RetryCallState) -> bool:
        # A server with every connection taken frees one when a client leaves: worth a longer wait.
        full = state.outcome is not None and _no_free_connection(state.outcome.exception())
        limit = DEFAULT_OUTAGE_SECONDS if full else CONNECT_RETRY_SECONDS
        return not url.is_postgres or (state.seconds_since_start or 0.0) >= limit

    def before_sleep(state: RetryCallState) -> None:
        if state.outcome is not None and _no_free_connection(state.outcome.exception()):
            logger.warning(
                "storage %s has no free connection (%.0f s waited); waiting for one "
                "(many workers: put a pooler in front, see README 'Docker compose')",
                url,
                state.seconds_since_start,
            )
        else:
            logger.warning("storage not reachable yet, retrying: %s", url)

    @retry(
        retry=retry_if_exception(_worth_retrying),
        stop=stop,
        wait=wait_exponential(multiplier=0.5, max=5),
        reraise=True,
        before_sleep=before_sleep,
    )
    def connect() -> T:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return storage_class(url.secret, engine_kwargs=_engine_kwargs(url))

    try:
        return _first_connect(connect)
    except Exception as exc:  # sqlalchemy and driver errors; their text may contain the URL
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {url}: {url.scrub(first)}") from None


def _no_free_connection(exc: BaseException | None) -> bool:
    """Whether ``exc`` is Postgres refusing a connection because all of them are taken."""
    full = ("too many clients", "too many connections", "remaining connection slots are reserved")
    while exc is not None:  # Optuna wraps the driver's error raised while committing
        if any(marker in str(exc) for marker in full):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _worth_retrying(exc: BaseException) -> bool:
    """A connection failure that waiting may cure (not a wrong database name or password)."""
    from hpo.store.retrying_storage import connection_failure

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
            if attempt == 4 or not any(s in str(exc) for s in ("already exists", "duplicate key", "UNIQUE constraint")):
                raise
            logger.debug("schema created concurrently by another process; retrying")
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _engine_kwargs(url: StorageUrl) -> dict[str, object]:
    if url.is_sqlite:
        # Workers share the file: wait for the write lock instead of failing at once.
        return {"connect_args": {"timeout": 60}}
    return {
        "pool_pre_ping": True,
        "pool_size": 2,
        "max_overflow": 2,
        "pool_recycle": 300,
        "connect_args": {"connect_timeout": 10, "application_name": "hpo"},
    }


def _parse_grpc(value: str) -> StorageUrl:
    address = value.split("://", 1)[1].split("/", 1)[0]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "@" in address:
        raise UsageError(f"storage URL '{_fallback_redact(value)}': give the proxy as grpc://HOST:PORT")
    host = host.strip("[]")
    return StorageUrl(value, "grpc", host, int(port), None, f"grpc://{address}", ())


def _sqlalchemy_url(value: str) -> URL:
    """SQLAlchemy's URL, with a password containing an unencoded ``@`` taken whole."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    scheme, _, rest = value.partition("://")
    address, question, query = rest.partition("?")
    userinfo, at, hostpart = address.rpartition("@")
    try:
        url = make_url(value)
        if at and "@" in userinfo and ":" in userinfo:
            user, _, password = userinfo.partition(":")
            parsed = make_url(f"{scheme}://{hostpart}{question}{query}")
            url = URL.create(
                url.drivername,
                urllib.parse.unquote(user),
                urllib.parse.unquote(password),
                parsed.host,
                parsed.port,
                parsed.database,
                parsed.query,
            )
    except (ArgumentError, ValueError) as exc:
        raise UsageError(f"storage URL '{_fallback_redact(value)}' cannot be parsed: {exc} ({_SCHEME_HELP})") from None
    return url


def _secret_values(query: Mapping[str, str | tuple[str, ...]]) -> list[str]:
    values: list[str] = []
    for key, value in query.items():
        if key.lower() in SECRET_PARAMETERS:
            values += [value] if isinstance(value, str) else list(value)
    return values


def _redacted(url: URL) -> str:
    query = {k: ("***" if k.lower() in SECRET_PARAMETERS else v) for k, v in url.query.items()}
    text: str = url.set(query=query).render_as_string(hide_password=True)
    return text.replace("%2A%2A%2A", "***")


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def redact_urls(text: str) -> str:
    """``text`` with the user information and query of every URL in it hidden (for messages of unknown origin)."""
    return _URL_IN_TEXT.sub(lambda match: _fallback_redact(match.group(0)), text)


def _fallback_redact(value: str) -> str:
    """For a URL that cannot be parsed: hide everything between ``://`` and the last ``@``, and the query."""
    scheme, sep, rest = value.partition("://")
    address, question, _ = rest.partition("?")
    userinfo, at, hostpart = address.rpartition("@")
    if at:
        user = userinfo.split(":", 1)[0]
        address = f"{user}:***@{hostpart}" if ":" in userinfo else f"{user}@{hostpart}"
    return f"{scheme}{sep}{address}" + ("?***" if question else "")
