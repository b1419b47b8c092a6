"""``hpo dashboard``: optuna-dashboard on the study storage.

It binds 127.0.0.1 unless told otherwise: optuna-dashboard has no authentication, and anyone who
reaches it can read and annotate every study in the storage.
"""

from __future__ import annotations

import logging

from hpo.store.storage import StorageUrl, is_loopback_host, open_storage

logger = logging.getLogger(__name__)


def serve_dashboard(storage_url: StorageUrl, host: str, port: int) -> None:
    """Serve the dashboard until interrupted."""
    from optuna_dashboard import run_server

    if not is_loopback_host(host):
        logger.warning("the dashboard has no authentication and listens on %s: anyone who reaches it can edit", host)
    storage = open_storage(storage_url)
    logger.info("optuna-dashboard for %s on http://%s:%d/dashboard", storage_url, host, port)
    run_server(storage.backend, host=host, port=port)
