"""``hpo dashboard``: optuna-dashboard on the study storage.

It binds 127.0.0.1 unless told otherwise: optuna-dashboard has no authentication, and anyone who
reaches it can read and annotate every study in the storage.
"""

from __future__ import annotations

import ipaddress
import logging

from hpo.storage import open_storage, redact

logger = logging.getLogger(__name__)


def serve_dashboard(storage_url: str, host: str, port: int) -> None:
    """Serve the dashboard until interrupted."""
    from optuna_dashboard import run_server

    if not is_loopback(host):
        logger.warning("the dashboard has no authentication and listens on %s: anyone who reaches it can edit", host)
    storage = open_storage(storage_url)
    logger.info("optuna-dashboard for %s on http://%s:%d/dashboard", redact(storage_url), host, port)
    run_server(storage, host=host, port=port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
