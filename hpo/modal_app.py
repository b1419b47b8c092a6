"""Modal containers as workers: the only module that imports ``modal``.

Each container runs the same worker loop as ``hpo worker`` against the study's Postgres, whose URL
comes from a ``modal.Secret`` (key ``HPO_STORAGE``, optionally ``HF_TOKEN``). A ``modal.Volume``
caches model weights and datasets between containers. A preempted container is retried by Modal,
and the trial it was running is failed by its stale heartbeat and re-run by the study's workers.

Launch with ``hpo modal --study NAME --containers 8 --gpu A10G``, or
``modal run hpo/modal_app.py --study NAME --containers 8`` (GPU type from ``HPO_MODAL_GPU``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modal

logger = logging.getLogger(__name__)

APP_NAME = "hpo"
CACHE_DIR = "/cache"
SECRET_NAME = "hpo-storage"
VOLUME_NAME = "hpo-cache"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModalSettings:
    """What a launch asks of Modal: GPU type, per-container timeout and retries, and resource names."""

    gpu: str = "A10G"
    timeout: int = 24 * 3600
    retries: int = 3
    secret: str = SECRET_NAME
    volume: str = VOLUME_NAME

    @classmethod
    def from_env(cls) -> ModalSettings:
        """Settings for ``modal run``, which has no hpo CLI arguments of its own."""
        return cls(
            gpu=os.environ.get("HPO_MODAL_GPU", cls.gpu),
            timeout=int(os.environ.get("HPO_MODAL_TIMEOUT", cls.timeout)),
            retries=int(os.environ.get("HPO_MODAL_RETRIES", cls.retries)),
        )


@dataclass(frozen=True)
class ModalWorker:
    """The app and everything its worker function is built from."""

    settings: ModalSettings
    app: modal.App
    image: modal.Image
    secret: modal.Secret
    volume: modal.Volume
    function: Any  # modal.Function; its type is generated per decorated function


def has_token() -> bool:
    """Whether a Modal token is configured (env or ~/.modal.toml); asks no server."""
    from modal.config import config

    return bool(config.get("token_id") and config.get("token_secret"))


def build_image() -> modal.Image:
    """Debian with the project's own pinned dependencies and source."""
    return (
        modal.Image.debian_slim(python_version="3.11")
        .pip_install("torch==2.13.0")
        .pip_install_from_pyproject(str(PROJECT_ROOT / "pyproject.toml"), optional_dependencies=["demo"])
        .env({"HF_HOME": f"{CACHE_DIR}/huggingface", "HF_DATASETS_CACHE": f"{CACHE_DIR}/datasets"})
        .add_local_python_source("hpo", "objectives")
    )


def build_worker(settings: ModalSettings) -> ModalWorker:
    """The Modal app whose function runs the worker loop with these settings."""
    image = build_image()
    secret = modal.Secret.from_name(settings.secret, required_keys=["HPO_STORAGE"])
    volume = modal.Volume.from_name(settings.volume, create_if_missing=True)
    app = modal.App(APP_NAME, image=image)
    function = app.function(
        gpu=settings.gpu,
        timeout=settings.timeout,
        retries=modal.Retries(max_retries=settings.retries, initial_delay=10.0, backoff_coefficient=2.0),
        secrets=[secret],
        volumes={CACHE_DIR: volume},
        serialized=True,
        name="worker",
    )(run_container_worker)
    return ModalWorker(settings, app, image, secret, volume, function)


def run_container_worker(study: str, n_trials: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """What each container runs: ``hpo worker --study STUDY`` on ``$HPO_STORAGE``."""
    from hpo.progress import LogProgress
    from hpo.storage import StorageUrl
    from hpo.worker import StopSignals, run_worker

    if not logging.getLogger().handlers:  # a container is an entry point of its own
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with StopSignals() as stop:
        url = StorageUrl.resolve(None, os.environ)
        summary = run_worker(url, study, n_trials=n_trials, timeout=timeout, stop=stop, progress=LogProgress)
    return {"states": summary.states, "stopped_because": summary.stopped_because}


def launch(
    worker: ModalWorker,
    study: str,
    containers: int,
    n_trials: int | None = None,
    timeout: float | None = None,
    detach: bool = False,
    on_progress: Callable[[], None] | None = None,
    poll_seconds: float = 15.0,
) -> list[dict[str, Any]]:
    """Start ``containers`` workers on ``study``; wait for all unless ``detach``; return their summaries."""
    with modal.enable_output(), worker.app.run(detach=detach):
        calls = [worker.function.spawn(study, n_trials, timeout) for _ in range(containers)]
        if detach:
            return []
        pending = list(calls)
        results: list[dict[str, Any]] = []
        while pending:
            for call in list(pending):
                try:
                    results.append(call.get(timeout=0))
                    pending.remove(call)
                except TimeoutError:
                    continue
            if pending:
                if on_progress is not None:
                    on_progress()
                time.sleep(poll_seconds)
        return results


default_worker = build_worker(ModalSettings.from_env())
app = default_worker.app


@app.local_entrypoint()
def main(study: str, containers: int = 1, n_trials: int = 0, timeout: float = 0.0, detach: bool = False) -> None:
    """``modal run hpo/modal_app.py --study NAME --containers N``."""
    results = launch(default_worker, study, containers, n_trials or None, timeout or None, detach)
    for number, result in enumerate(results):
        print(f"container {number}: {result['states']} ({result['stopped_because']})")
