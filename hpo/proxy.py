"""``hpo storage-proxy``: Optuna's gRPC storage proxy in front of the study database.

Hundreds of workers each holding a few Postgres connections exhaust ``max_connections``; behind
the proxy they share the proxy's small pool and its trial cache. Workers use it with
``--storage grpc://HOST:PORT``. Like the dashboard, it has no authentication: it binds 127.0.0.1
unless told otherwise.
"""

from __future__ import annotations

import logging

from hpo.dashboard import is_loopback
from hpo.storage import open_storage, redact

logger = logging.getLogger(__name__)


def serve_storage_proxy(storage_url: str, host: str, port: int) -> None:
    """Serve ``storage_url`` over gRPC until interrupted."""
    import optuna

    if storage_url.startswith("grpc://"):
        from hpo.errors import UsageError

        raise UsageError("--storage of a proxy must be the database itself, not another grpc:// proxy")
    if not is_loopback(host):
        logger.warning("the storage proxy has no authentication and listens on %s", host)
    storage = optuna.storages.get_storage(open_storage(storage_url))  # adds Optuna's trial cache
    logger.info("gRPC storage proxy for %s on grpc://%s:%d", redact(storage_url), host, port)
    optuna.storages.run_grpc_proxy_server(storage, host=host, port=port)
