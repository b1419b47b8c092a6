"""``hpo storage-proxy``: Optuna's gRPC storage proxy in front of the study database.

Hundreds of workers each holding a few Postgres connections exhaust ``max_connections``; behind
the proxy they share the proxy's small pool and its trial cache. Workers use it with
``--storage grpc://HOST:PORT``.

The proxy has no authentication and no encryption: whoever reaches its port can read and write
every study in the database, including the stored configs that workers run. It binds 127.0.0.1
unless ``--host`` says otherwise; expose it only on a private network, behind a firewall or an
authenticating tunnel (SSH, WireGuard, a service mesh with mTLS).
"""

from __future__ import annotations

import logging

from hpo.errors import UsageError
from hpo.store.storage import StorageUrl, is_loopback_host, open_storage

logger = logging.getLogger(__name__)


def serve_storage_proxy(storage_url: StorageUrl, host: str, port: int) -> None:
    """Serve ``storage_url`` over gRPC until interrupted."""
    import optuna

    if storage_url.is_grpc:
        raise UsageError("--storage of a proxy must be the database itself, not another grpc:// proxy")
    if not is_loopback_host(host):
        logger.warning(
            "the storage proxy has no authentication and listens on %s: anyone who reaches it can read and "
            "write every study",
            host,
        )
    storage = optuna.storages.get_storage(open_storage(storage_url, create=True).backend)  # adds Optuna's trial cache
    logger.info("gRPC storage proxy for %s on grpc://%s:%d", storage_url, host, port)
    optuna.storages.run_grpc_proxy_server(storage, host=host, port=port)
