"""The commands that serve the study storage over the network: dashboard and storage-proxy."""

from __future__ import annotations

from collections.abc import Callable

import click

from hpo.cli.shared import storage_option, storage_url
from hpo.log_setup import quiet_libraries


def server_options(port: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--storage, --host (127.0.0.1: the servers have no authentication) and --port."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        host = click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (see Security).")
        return storage_option(
            host(click.option("--port", default=port, show_default=True, type=click.IntRange(1, 65535))(command))
        )

    return decorate


@click.command("dashboard")
@server_options(port=8080)
def dashboard_command(storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on the study storage."""
    from hpo.views.dashboard import open_dashboard

    quiet_libraries()
    dashboard = open_dashboard(storage_url(storage), host, port)
    click.echo(dashboard.url)
    dashboard.serve()


@click.command("storage-proxy")
@server_options(port=13000)
def storage_proxy_command(storage: str | None, host: str, port: int) -> None:
    """Serve the study database through Optuna's gRPC storage proxy (workers: --storage grpc://HOST:PORT)."""
    from hpo.store.proxy import serve_storage_proxy

    quiet_libraries()
    click.echo(f"grpc://{host}:{port}")
    serve_storage_proxy(storage_url(storage), host, port)
