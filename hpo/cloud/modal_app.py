"""Modal containers as workers: the only module that imports ``modal``, inside its functions only.

Each container runs :func:`hpo.cloud.container.run_container_worker` (the worker loop of ``hpo
worker``) against the study's Postgres, whose URL comes from a ``modal.Secret`` (key
``HPO_STORAGE``, optionally ``HF_TOKEN``). A ``modal.Volume`` caches model weights and datasets
between containers. The study's local data files and model folders are mounted at the paths the
study names.

The app is built per launch (its image carries that study's files): launch it with ``hpo modal``,
which runs the checks first. There is no ``modal run`` entrypoint.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo.cloud.container import run_container_worker
from hpo.cloud.reach import CACHE_DIR
from hpo.errors import HpoError, UsageError
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.store.storage import STORAGE_ENV, StorageUrl

if TYPE_CHECKING:
    import modal

logger = logging.getLogger(__name__)

APP_NAME = "hpo"
PYTHON_VERSION = "3.11"
TORCH_REQUIREMENT = "torch==2.13.0"
# Dependencies of hpo that a worker never imports (reports and plots): left out of the image.
NOT_IN_IMAGE = ("plotly", "matplotlib")
SECRET_NAME = "hpo-storage"
VOLUME_NAME = "hpo-cache"
# Modal's own limits on one function: retries and timeout (24 h).
MAX_RETRIES = 10
MAX_CONTAINER_TIMEOUT = 24 * 3600
MIN_CONTAINER_TIMEOUT = 60  # start-up alone (image, weights, data) takes about that long
# A trial of the reference task takes minutes: two hours is a hung or runaway trial.
DEFAULT_TRIAL_TIMEOUT = 2 * 3600
DEFAULT_IDLE_TIMEOUT = 600
# How long the launching machine keeps asking for a result through its own network errors.
LOST_CONTACT_SECONDS = 900.0
RETRY_DELAY_SECONDS = 2.0
MAX_RETRY_DELAY_SECONDS = 60.0
GPU_EXAMPLES = "e.g. T4, L4, A10G, L40S, A100, H100"
# Progress bars of 8 containers would flood the terminal that streams their logs.
CONTAINER_ENV = {
    "HF_HOME": f"{CACHE_DIR}/huggingface",
    "HF_DATASETS_CACHE": f"{CACHE_DIR}/datasets",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class ModalSettings:
    """What a launch asks of Modal: one GPU of a type and resources, per-container and per-trial
    timeouts, retries, names, and the local files (data, model folders) that each container gets
    at the same path."""

    gpu: str = "A10G"
    timeout: int = MAX_CONTAINER_TIMEOUT
    retries: int = 1
    cpu: float = 4.0
    memory: int = 16384  # MiB
    secret: str = SECRET_NAME
    volume: str = VOLUME_NAME
    carry: tuple[str, ...] = ()
    trial_timeout: int | None = None  # None: DEFAULT_TRIAL_TIMEOUT, or half the container's when that is less
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= MAX_RETRIES:
            raise UsageError(f"--retries {self.retries}: Modal allows 0 to {MAX_RETRIES} retries")
        if not MIN_CONTAINER_TIMEOUT <= self.timeout <= MAX_CONTAINER_TIMEOUT:
            raise UsageError(
                f"--container-timeout {self.timeout}: give {MIN_CONTAINER_TIMEOUT} to {MAX_CONTAINER_TIMEOUT} s "
                "(Modal stops a container after at most 24 h)"
            )
        if self.trial_timeout is not None and not 0 < self.trial_timeout < self.timeout:
            raise UsageError(
                f"--trial-timeout {self.trial_timeout}: give more than 0 and less than --container-timeout "
                f"({self.timeout} s), so that a hung trial ends before its container does"
            )
        if self.idle_timeout <= 0:
            raise UsageError(f"--idle-timeout {self.idle_timeout}: give a number of seconds above 0")
        if not self.gpu.strip():
            raise UsageError(f"--gpu: give a Modal GPU type, {GPU_EXAMPLES}")
        kind, _, count = self.gpu.partition(":")
        if count.strip().isdigit() and int(count) != 1:
            raise UsageError(
                f"--gpu {self.gpu}: a container runs one worker on one GPU; give '{kind}' and start more "
                f"containers with --containers"
            )

    @property
    def gpu_type(self) -> str:
        """The GPU type asked for, as trials are priced: without a count or Modal's no-upgrade '!'."""
        return self.gpu.partition(":")[0].strip().rstrip("!")

    @property
    def trial_limit(self) -> int:
        """The per-trial time limit: as given, else the default or half the container's timeout."""
        if self.trial_timeout is not None:
            return self.trial_timeout
        return min(DEFAULT_TRIAL_TIMEOUT, self.timeout // 2)


@dataclass(frozen=True)
class LaunchRequest:
    """One ``hpo modal``: which study, on which storage, how many containers, with what settings."""

    storage_url: StorageUrl
    study_name: str
    containers: int = 1
    settings: ModalSettings = field(default_factory=ModalSettings)
    n_trials: int | None = None
    timeout: float | None = None
    detach: bool = False
    trust_remote_code: RemoteCodeConsent = field(default_factory=RemoteCodeConsent)

    def worker_arguments(self) -> dict[str, Any]:
        """The keyword arguments of each container's :func:`run_container_worker`, after the study
        and the redacted URL its secret must name."""
        return {
            "n_trials": self.n_trials,
            "timeout": self.timeout,
            "gpu": self.settings.gpu_type,
            "trust_remote_code": self.trust_remote_code.describe(),
            "trial_timeout": self.settings.trial_limit,
            "idle_timeout": self.settings.idle_timeout,
        }


class LaunchInterruptedError(HpoError):
    """Ctrl-C while the containers ran; they were asked to stop."""

    exit_code = 130


@dataclass(frozen=True)
class ContainerResult:
    """What one container reported: its trials by state and why it stopped, or why it failed."""

    states: dict[str, int]
    stopped_because: str
    error: str | None = None

    @classmethod
    def from_wire(cls, value: Any) -> ContainerResult:
        """The result from the dict a container returns."""
        if not isinstance(value, dict):
            return cls({}, "", f"unexpected result: {type(value).__name__}")
        return cls(dict(value.get("states") or {}), str(value.get("stopped_because", "")), value.get("error"))

    def describe(self) -> str:
        """One line for the terminal."""
        if self.error:
            return f"failed: {self.error}"
        return f"{self.states} ({self.stopped_because})"


@dataclass(frozen=True)
class Launched:
    """What a launch left: the Modal app's id (for ``modal app stop``) and, unless detached, each
    container's result."""

    app_id: str | None
    results: list[ContainerResult]


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


def image_requirements() -> list[str]:
    """pip requirements of the installed ``hpo`` distribution, no extras, torch pinned, and without
    the packages a worker never imports (:data:`NOT_IN_IMAGE`).

    Read from the distribution's metadata, so a regular install works as well as an editable one.
    """
    try:
        requires = importlib.metadata.requires("hpo") or []
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(
            "hpo is not installed as a package, so its dependencies are unknown: pip install -e '.[modal]'"
        ) from None
    pinned = [TORCH_REQUIREMENT]
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        name = re.split(r"[\s<>=!~\[(@]", spec.strip(), maxsplit=1)[0].lower()
        if name != "torch" and name not in NOT_IN_IMAGE:
            pinned.append(requirement.strip())
    return pinned


def build_image(carry: tuple[str, ...] = ()) -> modal.Image:
    """Debian with hpo's dependencies, its source, and the study's local files at their own paths."""
    import modal

    image = (
        modal.Image.debian_slim(python_version=PYTHON_VERSION)
        .pip_install(*image_requirements())
        .env(CONTAINER_ENV)
        .add_local_python_source("hpo", "objectives")
    )
    for path in carry:  # mounted at start-up, uploaded once per content: no image rebuild
        image = image.add_local_dir(path, path) if os.path.isdir(path) else image.add_local_file(path, path)
    return image


def build_worker(settings: ModalSettings) -> ModalWorker:
    """The Modal app whose function runs the worker loop with these settings; contacts no server."""
    import modal

    image = build_image(settings.carry)
    secret = modal.Secret.from_name(settings.secret, required_keys=[STORAGE_ENV])
    volume = modal.Volume.from_name(settings.volume, create_if_missing=True)
    app = modal.App(APP_NAME, image=image)
    function = app.function(
        gpu=settings.gpu,
        cpu=settings.cpu,
        memory=settings.memory,
        timeout=settings.timeout,
        # Re-runs a container whose function raised (a crash, a storage outage). A preempted
        # container raises KeyboardInterrupt instead: Modal restarts it without spending a retry.
        retries=modal.Retries(max_retries=settings.retries, initial_delay=10.0, backoff_coefficient=2.0),
        secrets=[secret],
        volumes={CACHE_DIR: volume},
        serialized=True,
        name="worker",
    )(run_container_worker)
    return ModalWorker(settings, app, image, secret, volume, function)


def launch(
    worker: ModalWorker,
    request: LaunchRequest,
    on_progress: Callable[[], None] | None = None,
    poll_seconds: float = 15.0,
) -> Launched:
    """Start ``request.containers`` workers; wait for all unless detached; return the app id and results.

    Modal's errors become one line (:class:`UsageError` with the fix); Ctrl-C stops the containers
    and raises :class:`LaunchInterruptedError`; ``on_progress`` runs every ``poll_seconds``.
    """
    import modal

    calls: list[Any] = []
    try:
        # Modal streams the containers' logs to stdout: send them to stderr, stdout is for results.
        with (
            modal_errors(worker.settings),
            contextlib.redirect_stdout(sys.stderr),
            modal.enable_output(),
            worker.app.run(detach=request.detach),
        ):
            app_id = worker.app.app_id
            try:
                arguments = request.worker_arguments()
                for _ in range(request.containers):
                    calls.append(worker.function.spawn(request.study_name, request.storage_url.redacted, **arguments))
                if request.detach:
                    return Launched(app_id, [])
                return Launched(app_id, _wait(calls, on_progress, poll_seconds))
            except KeyboardInterrupt:
                # app.run() swallows a KeyboardInterrupt: raise something it passes on.
                _cancel(calls)
                raise LaunchInterruptedError(_interrupted(len(calls))) from None
    except KeyboardInterrupt:  # during the app's start-up, before any container
        _cancel(calls)
        raise LaunchInterruptedError("interrupted while the app was starting; no container runs") from None
    # Only reached when app.run() swallowed a KeyboardInterrupt: a second Ctrl-C while the first
    # was being handled. Leaving app.run() stops an attached app with its containers.
    raise LaunchInterruptedError(f"interrupted twice: {_interrupted(len(calls))}")


def _interrupted(calls: int) -> str:
    return (
        f"interrupted: asked Modal to stop {calls} containers; the next worker re-queues the trials they "
        "were running once their heartbeats are stale"
    )


def _wait(calls: list[Any], on_progress: Callable[[], None] | None, poll_seconds: float) -> list[ContainerResult]:
    """Every call's result, waited on in a thread; the main thread polls progress and takes Ctrl-C."""
    results: list[ContainerResult] = [ContainerResult({}, "", "no result") for _ in calls]

    def wait_all() -> None:
        # One call at a time rather than FunctionCall.gather: gather raises at the first failure.
        for number, call in enumerate(calls):
            results[number] = wait_for_result(number, call)

    waiter = threading.Thread(target=wait_all, name="hpo-modal-wait", daemon=True)
    waiter.start()
    while True:
        waiter.join(poll_seconds)
        if not waiter.is_alive():
            return results
        if on_progress is not None:
            try:
                on_progress()
            except Exception:  # monitoring never stops the containers
                logger.warning("progress poll failed; the containers go on", exc_info=True)


def wait_for_result(number: int, call: Any) -> ContainerResult:
    """The result of one spawned container. This machine's own network errors (Modal's client gives
    up on them within a second) are retried with backoff for :data:`LOST_CONTACT_SECONDS`; a
    failure is recorded only for what the container's run returned: its own exception after its
    retries, Modal's ``RemoteError``, ``FunctionTimeoutError`` or ``InputCancellation``."""
    import modal.exception

    local_errors = (modal.exception.ConnectionError, modal.exception.ServiceError, OSError)
    delay = RETRY_DELAY_SECONDS
    lost_since: float | None = None
    while True:
        try:
            return ContainerResult.from_wire(call.get())
        except local_errors as exc:
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            lost_since = time.monotonic() if lost_since is None else lost_since
            if time.monotonic() - lost_since >= LOST_CONTACT_SECONDS:
                return ContainerResult({}, "", f"no answer from Modal for {LOST_CONTACT_SECONDS:g} s ({reason})")
            logger.warning("waiting on container %d: %s; asking again in %g s", number, reason, delay)
            time.sleep(delay)
            delay = min(2 * delay, MAX_RETRY_DELAY_SECONDS)
        except BaseException as exc:  # the container's own result: an error after its retries, a timeout
            return ContainerResult({}, "", f"{type(exc).__name__}: {_first_line(exc)}")


def _cancel(calls: list[Any]) -> None:
    for call in calls:
        try:
            call.cancel(terminate_containers=True)
        except Exception as exc:  # the app stops with the client anyway
            logger.warning("could not cancel a container: %s", _first_line(exc))


@contextlib.contextmanager
def modal_errors(settings: ModalSettings) -> Iterator[None]:
    """Modal's client errors as one line with the fix, instead of Modal's traceback."""
    import modal.exception

    try:
        yield
    except (modal.exception.AuthError, modal.exception.PermissionDeniedError) as exc:
        raise UsageError(f"Modal rejected the token ({_first_line(exc)}); run 'modal token new'") from None
    except modal.exception.NotFoundError as exc:
        raise UsageError(
            f"Modal: {_first_line(exc)}; create the secret from a file that holds {STORAGE_ENV}=...: "
            f"modal secret create {settings.secret} --from-dotenv FILE"
        ) from None
    except modal.exception.InvalidError as exc:
        raise UsageError(
            f"Modal rejected the launch ({_first_line(exc)}); check --gpu '{settings.gpu}' "
            f"({GPU_EXAMPLES}), --cpu and --memory"
        ) from None
    except modal.exception.Error as exc:
        raise HpoError(f"Modal failed: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
