"""``hpo modal``: checks that must pass before anything is launched, and the launch itself.

Modal itself is imported only by :mod:`hpo.modal_app`, and only once these checks passed.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from hpo.errors import UsageError
from hpo.storage import StorageUrl, open_storage

logger = logging.getLogger(__name__)


def check_reachable_from_cloud(url: StorageUrl) -> None:
    """Raise unless a container elsewhere could reach this storage (no SQLite file, no localhost)."""
    if url.is_sqlite:
        raise UsageError(
            f"storage URL '{url}' is a local SQLite file that a cloud container cannot reach; "
            "use a Postgres URL reachable from the internet (managed, or tunnelled)"
        )
    if url.is_loopback:
        raise UsageError(
            f"storage host '{url.host or 'localhost'}' in '{url}' is this machine, which a cloud container cannot "
            "reach; use a Postgres reachable from the internet (managed, or tunnelled)"
        )


def check_modal_ready(storage_url: StorageUrl, study_name: str) -> None:
    """One-line errors for: a storage containers cannot reach, no ``[modal]`` extra, no token, no study."""
    check_reachable_from_cloud(storage_url)
    if importlib.util.find_spec("modal") is None:
        raise UsageError("Modal support is not installed: pip install 'hpo[modal]'")
    from hpo.modal_app import has_token

    if not has_token():
        raise UsageError("no Modal token: run 'modal token new' (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)")
    from hpo.study import load_stored_study

    load_stored_study(open_storage(storage_url), study_name)


def run_on_modal(
    storage_url: StorageUrl,
    study_name: str,
    containers: int,
    gpu: str,
    n_trials: int | None,
    timeout: float | None,
    container_timeout: int,
    retries: int,
    detach: bool,
) -> list[dict[str, Any]]:
    """Launch the containers and, unless detached, log the study's progress until they all return."""
    from hpo.modal_app import ModalSettings, build_worker, launch
    from hpo.study import load_stored_study
    from hpo.summary import study_status

    worker = build_worker(ModalSettings(gpu=gpu, timeout=container_timeout, retries=retries))

    def progress() -> None:
        status = study_status(load_stored_study(open_storage(storage_url), study_name))
        best = status["best"]
        logger.info(
            "%s: %s; best %s",
            study_name,
            ", ".join(f"{n} {s.lower()}" for s, n in status["states"].items()),
            "-" if best is None else f"{best['value']:.4f} (trial {best['trial']})",
        )

    return launch(worker, study_name, containers, n_trials, timeout, detach, on_progress=progress)
