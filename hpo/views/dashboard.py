"""``hpo dashboard``: optuna-dashboard on the study storage.

It binds 127.0.0.1 unless told otherwise: optuna-dashboard has no authentication, and anyone who
reaches it can read and annotate every study in the storage.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass

from hpo.errors import UsageError
from hpo.store.storage import Storage, StorageUrl, is_loopback_host, open_storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dashboard:
    """A dashboard ready to serve: its address is free and its storage open."""

    storage: Storage
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/dashboard"

    def serve(self) -> None:
        """Serve until interrupted."""
        from optuna_dashboard import run_server

        logger.info("optuna-dashboard for %s on %s", self.storage.url, self.url)
        try:
            run_server(self.storage.backend, host=self.host, port=self.port)
        except OSError as exc:  # taken since the check
            raise UsageError(cannot_listen(self.host, self.port, exc)) from None


def open_dashboard(storage_url: StorageUrl, host: str, port: int) -> Dashboard:
    """Check that the address can be listened on, then open the storage (nothing is opened for a busy port)."""
    check_address_free(host, port)
    if not is_loopback_host(host):
        logger.warning("the dashboard has no authentication and listens on %s: anyone who reaches it can edit", host)
    return Dashboard(open_storage(storage_url), host, port)


def check_address_free(host: str, port: int) -> None:
    """Bind ``host:port`` as the server will (address reuse on); a one-line UsageError when it cannot."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise UsageError(cannot_listen(host, port, exc)) from None


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """Why ``host:port`` cannot be listened on, and what to do, in one line."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use (another dashboard or server?); choose another with --port"
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges to listen on; choose a port above 1023 with --port"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: it is not an address of this machine; give --host one of its addresses"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
