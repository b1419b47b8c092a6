"""``hpo modal``: the checks that must pass before anything starts, the launch, and its progress log.

Modal itself is imported only inside :mod:`hpo.cloud.modal_app`'s functions, once the cheap checks passed.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from hpo.cloud.modal_app import APP_NAME, Launched, LaunchRequest, build_worker, has_token, launch, modal_errors
from hpo.cloud.reach import check_local_data, check_reachable_from_cloud, files_to_carry
from hpo.errors import HpoError, StudyError, UsageError
from hpo.stats.cost import price_per_hour
from hpo.store.storage import Storage, StorageUrl, open_storage

if TYPE_CHECKING:
    from hpo.cloud.modal_app import ContainerResult
    from hpo.store.study import StoredStudy

logger = logging.getLogger(__name__)

POLL_SECONDS = 15.0


def prepare_launch(request: LaunchRequest) -> LaunchRequest:
    """Every check that can fail before anything starts; the request with the local files to carry.

    One-line errors for: a storage containers cannot reach, no ``[modal]`` extra, no token, no
    study, a study with no trial waiting or running, remote model code without
    ``--trust-remote-code``, a spend cap without a price for the GPU asked for, data a container
    cannot get (the built-in demo data, Windows paths, missing or changed local files).
    """
    check_reachable_from_cloud(request.storage_url)
    if importlib.util.find_spec("modal") is None:
        raise UsageError("Modal support is not installed: pip install 'hpo[modal]'")
    if not has_token():
        raise UsageError("no Modal token: run 'modal token new' (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)")
    from hpo.store.study import load_stored_study

    stored = load_stored_study(open_storage(request.storage_url), request.study_name)
    stored.config.check_remote_code(request.trust_remote_code)
    check_trials_left(stored)
    check_price(stored, request.settings.gpu_type)
    carry = files_to_carry(stored.config)
    check_local_data(stored)
    return replace(request, settings=replace(request.settings, carry=carry))


def check_trials_left(stored: StoredStudy) -> None:
    """Raise when the study has no trial waiting or running: every container would start, find
    nothing to do, and bill its start-up."""
    import optuna

    states = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
    if not stored.study.get_trials(deepcopy=False, states=states):
        name = stored.config.study_name
        raise StudyError(
            f"study '{name}' has no trials waiting or running (its budget of {stored.config.budget.n_trials} "
            f"trials is done), so containers would find nothing to do; see: hpo status --study {name}"
        )


def check_price(stored: StoredStudy, gpu_type: str) -> None:
    """Raise when the study caps its spend but its cost table has no price for the GPU type asked
    for: every container would refuse to start a trial. Containers price trials by the type asked
    for, not the device they get."""
    config = stored.config
    if not config.cost or price_per_hour(config.cost, gpu_type) is not None:
        return
    if config.budget.max_cost is not None:
        raise StudyError(
            f"study '{config.study_name}' caps its spend (budget.max_cost) but its cost table has no price for "
            f"--gpu {gpu_type} (prices: {', '.join(config.cost)}); add a price for {gpu_type}, or ask for a priced GPU"
        )
    logger.warning("no price for GPU '%s' in the study's cost table: its trials record no dollars", gpu_type)


def run_on_modal(request: LaunchRequest, poll_seconds: float = POLL_SECONDS) -> Launched:
    """Launch the containers and, unless detached, log the study's progress until they all return."""
    with modal_errors(request.settings):  # e.g. a GPU count Modal cannot parse
        worker = build_worker(request.settings)
    launched = launch(
        worker, request, on_progress=ProgressLog(request.storage_url, request.study_name), poll_seconds=poll_seconds
    )
    results = [replace(r, error=request.storage_url.scrub(r.error)) if r.error else r for r in launched.results]
    return replace(launched, results=results)


def stop_command(app_id: str | None) -> str:
    """The command that stops a launched app and its containers."""
    return f"modal app stop {app_id or APP_NAME}"


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
