"""``hpo modal``: the checks that must pass before anything starts, the launch, and its progress log.

Modal itself is imported only inside :mod:`hpo.cloud.modal_app`'s functions, once the cheap checks passed.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace

from hpo.cloud.modal_app import ContainerResult, LaunchRequest, build_worker, has_token, launch, modal_errors
from hpo.cloud.reach import check_local_data, check_reachable_from_cloud, files_to_carry
from hpo.errors import HpoError, UsageError
from hpo.store.storage import Storage, StorageUrl, open_storage

logger = logging.getLogger(__name__)

POLL_SECONDS = 15.0


def prepare_launch(request: LaunchRequest) -> LaunchRequest:
    """Every check that can fail before anything starts; the request with the local files to carry.

    One-line errors for: a storage containers cannot reach, no ``[modal]`` extra, no token, no
    study, data a container cannot get (the built-in demo data, missing or changed local files).
    """
    check_reachable_from_cloud(request.storage_url)
    if importlib.util.find_spec("modal") is None:
        raise UsageError("Modal support is not installed: pip install 'hpo[modal]'")
    if not has_token():
        raise UsageError("no Modal token: run 'modal token new' (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)")
    from hpo.store.study import load_stored_study

    stored = load_stored_study(open_storage(request.storage_url), request.study_name)
    carry = files_to_carry(stored.config)
    check_local_data(stored)
    return replace(request, settings=replace(request.settings, carry=carry))


def run_on_modal(request: LaunchRequest, poll_seconds: float = POLL_SECONDS) -> list[ContainerResult]:
    """Launch the containers and, unless detached, log the study's progress until they all return."""
    with modal_errors(request.settings):  # e.g. a GPU count Modal cannot parse
        worker = build_worker(request.settings)
    results = launch(
        worker, request, on_progress=ProgressLog(request.storage_url, request.study_name), poll_seconds=poll_seconds
    )
    return [replace(r, error=request.storage_url.scrub(r.error)) if r.error else r for r in results]


def check_results(results: list[ContainerResult]) -> None:
    """Raise when a container failed, after its line was printed."""
    failed = sum(1 for r in results if r.error)
    if failed:
        raise HpoError(f"{failed} of {len(results)} containers failed (see above)")


class ProgressLog:
    """Logs the study's trial counts and best value. Opens the storage once; a failed poll is
    logged and skipped, never raised: monitoring must not stop the containers."""

    def __init__(self, storage_url: StorageUrl, study_name: str) -> None:
        self.storage_url = storage_url
        self.study_name = study_name
        self._storage: Storage | None = None

    def __call__(self) -> None:
        from hpo.store.study import load_stored_study
        from hpo.views.summary import study_status

        try:
            if self._storage is None:
                self._storage = open_storage(self.storage_url)
            status = study_status(load_stored_study(self._storage, self.study_name))
        except Exception as exc:  # a storage blip: the containers keep running, the next poll retries
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            logger.warning("progress poll failed (the containers go on): %s", self.storage_url.scrub(reason))
            return
        best = status["best"]
        logger.info(
            "%s: %s; best %s",
            self.study_name,
            ", ".join(f"{n} {s.lower()}" for s, n in status["states"].items()),
            "-" if best is None else f"{best['value']:.4f} (trial {best['trial']})",
        )
