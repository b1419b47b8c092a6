"""Modal containers as workers: the only module that imports ``modal``, inside its functions only.

Each container runs the same worker loop as ``hpo worker`` against the study's Postgres, whose URL
comes from a ``modal.Secret`` (key ``HPO_STORAGE``, optionally ``HF_TOKEN``). A ``modal.Volume``
caches model weights and datasets between containers. The study's local data files and model
folders are mounted at the paths the study names. A preempted container (SIGINT, then SIGKILL 30 s
later) finishes its trial or abandons it after :data:`STOP_GRACE_SECONDS` (it goes back to the
queue), then exits with an error while the study has trials left, so that Modal starts it again.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo.cloud.reach import CACHE_DIR
from hpo.errors import HpoError, StorageError, UsageError
from hpo.store.storage import STORAGE_ENV, StorageUrl, open_storage

if TYPE_CHECKING:
    import modal

logger = logging.getLogger(__name__)

APP_NAME = "hpo"
PYTHON_VERSION = "3.11"
TORCH_REQUIREMENT = "torch==2.13.0"
# Modal sends SIGINT on preemption and SIGKILL 30 s later: abandon the trial before that.
STOP_GRACE_SECONDS = 20.0
_RESTART = "exiting with an error so that Modal starts this container again"
SECRET_NAME = "hpo-storage"
VOLUME_NAME = "hpo-cache"
# Modal's own limits on one function: retries and timeout (24 h).
MAX_RETRIES = 10
MAX_CONTAINER_TIMEOUT = 24 * 3600
MIN_CONTAINER_TIMEOUT = 60  # start-up alone (image, weights, data) takes about that long
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
    """What a launch asks of Modal: GPU type and resources, per-container timeout and retries, names,
    and the local files (data, model folders) that each container gets at the same path."""

    gpu: str = "A10G"
    timeout: int = MAX_CONTAINER_TIMEOUT
    retries: int = 1
    cpu: float = 4.0
    memory: int = 16384  # MiB
    secret: str = SECRET_NAME
    volume: str = VOLUME_NAME
    carry: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= MAX_RETRIES:
            raise UsageError(f"--retries {self.retries}: Modal allows 0 to {MAX_RETRIES} retries")
        if not MIN_CONTAINER_TIMEOUT <= self.timeout <= MAX_CONTAINER_TIMEOUT:
            raise UsageError(
                f"--container-timeout {self.timeout}: give {MIN_CONTAINER_TIMEOUT} to {MAX_CONTAINER_TIMEOUT} s "
                "(Modal stops a container after at most 24 h)"
            )
        if not self.gpu.strip():
            raise UsageError("--gpu: give a Modal GPU type, e.g. T4, L4, A10G, L40S, A100, H100")


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


class ContainerStoppedError(HpoError):
    """A container was told to stop (preemption) while the study had trials left: raised so that
    Modal records a failure and starts the container again, instead of a success."""


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
    """pip requirements of the installed ``hpo`` distribution, no extras, torch pinned.

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
        name = re.split(r"[\s<>=!~\[(@]", spec.strip(), maxsplit=1)[0]
        if name.lower() != "torch":
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
        # Re-runs a container whose function raised: a crash, a storage outage, a preemption stop.
        retries=modal.Retries(max_retries=settings.retries, initial_delay=10.0, backoff_coefficient=2.0),
        secrets=[secret],
        volumes={CACHE_DIR: volume},
        serialized=True,
        name="worker",
    )(run_container_worker)
    return ModalWorker(settings, app, image, secret, volume, function)


def run_container_worker(
    study: str, expected_storage: str, n_trials: int | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """What each container runs: ``hpo worker --study STUDY`` on ``$HPO_STORAGE``.

    ``expected_storage`` is the redacted URL checked on the launching machine. A config error is
    returned as the result's ``error`` (retrying cannot cure it); a stop signal with the study's
    budget unfinished raises :class:`ContainerStoppedError`; other errors raise, for Modal to retry.
    """
    from hpo.progress import LogProgress
    from hpo.workers.signals import Interrupted, StopSignals
    from hpo.workers.worker import run_worker

    if not logging.getLogger().handlers:  # a container is an entry point of its own
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    url: StorageUrl | None = None
    try:
        url = StorageUrl.parse(os.environ.get(STORAGE_ENV, ""))
        if url.redacted != expected_storage:
            raise UsageError(
                f"the Modal secret's {STORAGE_ENV} is '{url}', but the study was checked on "
                f"'{expected_storage}'; point both at the same database "
                f"(modal secret create --force {SECRET_NAME} {STORAGE_ENV}=...)"
            )
        with StopSignals(grace=STOP_GRACE_SECONDS) as stop:
            summary = run_worker(url, study, n_trials=n_trials, timeout=timeout, stop=stop, progress=LogProgress)
    except Interrupted as exc:  # the running trial was abandoned and re-queued: the budget is unfinished
        raise ContainerStoppedError(f"stopped ({exc}) with trials of study '{study}' left; {_RESTART}") from None
    except StorageError:
        raise
    except HpoError as exc:
        reason = str(exc) if url is None else url.scrub(str(exc))  # a parse error is redacted already
        logger.error("%s", reason)
        return {"states": {}, "stopped_because": "", "error": reason}
    if stop.requested and summary.stopped_because == "stop signal":
        left = _trials_left(url, study)
        if left:
            raise ContainerStoppedError(
                f"stop signal with trials of study '{study}' left ({left} waiting or running); {_RESTART}"
            )
    return {"states": summary.states, "stopped_because": summary.stopped_because, "error": None}


def _trials_left(url: StorageUrl, study: str) -> int:
    """Trials waiting or running in the study; unknown counts as left (a restart finds out)."""
    import optuna

    try:
        loaded = optuna.load_study(study_name=study, storage=open_storage(url).backend)
        states = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
        return len(loaded.get_trials(deepcopy=False, states=states))
    except Exception as exc:
        logger.warning("cannot count the trials left (%s); assuming some are", url.scrub(_first_line(exc)))
        return 1


def launch(
    worker: ModalWorker,
    request: LaunchRequest,
    on_progress: Callable[[], None] | None = None,
    poll_seconds: float = 15.0,
) -> list[ContainerResult]:
    """Start ``request.containers`` workers; wait for all unless detached; return their results.

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
            try:
                for _ in range(request.containers):
                    calls.append(
                        worker.function.spawn(
                            request.study_name, request.storage_url.redacted, request.n_trials, request.timeout
                        )
                    )
                if request.detach:
                    return []
                return _wait(calls, on_progress, poll_seconds)
            except KeyboardInterrupt:
                # app.run() swallows a KeyboardInterrupt: raise something it passes on.
                _cancel(calls)
                raise LaunchInterruptedError(
                    f"interrupted: asked Modal to stop {len(calls)} containers; the next worker re-queues "
                    "the trials they were running once their heartbeats are stale"
                ) from None
    except KeyboardInterrupt:  # during the app's start-up, before any container
        _cancel(calls)
        raise LaunchInterruptedError("interrupted while the app was starting; no container runs") from None


def _wait(calls: list[Any], on_progress: Callable[[], None] | None, poll_seconds: float) -> list[ContainerResult]:
    """Every call's result, waited on in a thread; the main thread polls progress and takes Ctrl-C."""
    results: list[ContainerResult] = [ContainerResult({}, "", "no result") for _ in calls]

    def wait_all() -> None:
        # One call at a time rather than FunctionCall.gather: gather raises at the first failure.
        for number, call in enumerate(calls):
            try:
                results[number] = ContainerResult.from_wire(call.get())
            except BaseException as exc:  # the container's own error after its retries, or a lost call
                results[number] = ContainerResult({}, "", f"{type(exc).__name__}: {_first_line(exc)}")

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
            f"Modal: {_first_line(exc)}; create the secret with: modal secret create {settings.secret} "
            f"{STORAGE_ENV}='postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB'"
        ) from None
    except modal.exception.InvalidError as exc:
        raise UsageError(
            f"Modal rejected the launch ({_first_line(exc)}); check --gpu '{settings.gpu}' "
            "(e.g. T4, L4, A10G, L40S, A100, H100), --cpu and --memory"
        ) from None
    except modal.exception.Error as exc:
        raise HpoError(f"Modal failed: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
