"""What each Modal container runs: the worker loop of ``hpo worker`` on the storage its secret names.

How a container ends decides what Modal does next:

- the study's budget is done, or a limit ended the worker: a result, the input is finished;
- a config error no retry can cure (an unknown study, changed data, a secret naming another
  database, a wrong password, a missing database, no CUDA device): a result whose ``error`` says it;
- stopped by a signal (Modal's preemption: SIGINT, SIGKILL 30 s later) with trials left:
  :class:`ContainerStopped`, a ``KeyboardInterrupt``, which leaves the input without an output,
  so Modal runs it again on another machine without spending a ``--retries`` attempt;
- any other error (a crash, a storage outage): raised, for Modal to retry up to ``--retries``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from hpo.errors import HpoError, StorageError, UsageError
from hpo.store.storage import STORAGE_ENV, StorageUrl, open_storage

logger = logging.getLogger(__name__)

# Modal sends SIGINT on preemption and SIGKILL 30 s later: abandon the trial before that.
STOP_GRACE_SECONDS = 20.0
_RESTART = "leaving this input unfinished, so that Modal runs it again (a preemption restart, not a --retries attempt)"
# Storage errors no retry cures: the secret's password or database name is wrong.
_PERMANENT_STORAGE_ERRORS = ("does not exist", "authentication failed", "no password supplied")
POSTGRES_PORT = 5432


class ContainerStopped(KeyboardInterrupt):
    """A container was told to stop (preemption) while the study had trials left.

    A ``KeyboardInterrupt``, as Modal's preemption guide re-raises it: the input ends without an
    output and Modal restarts it; an ``Exception`` would be a failure that spends a retry.
    """


class ContainerFailedError(HpoError):
    """An ``OSError`` in the container, carried under another type: the launching machine retries
    its own network errors, and must not mistake a container's for one."""


def run_container_worker(
    study: str,
    expected_storage: str,
    n_trials: int | None = None,
    timeout: float | None = None,
    gpu: str | None = None,
    trust_remote_code: str = "",
    trial_timeout: float | None = None,
    idle_timeout: float | None = None,
) -> dict[str, Any]:
    """``hpo worker --study STUDY`` on ``$HPO_STORAGE``, with a container's limits.

    ``expected_storage`` is the redacted URL checked on the launching machine; ``gpu`` the GPU type
    asked for (its trials are priced as that type; None runs on whatever device there is);
    ``trust_remote_code`` the consent given to ``hpo modal`` (``MODEL[,MODEL]`` or ``all``);
    ``trial_timeout`` ends a trial that runs longer; ``idle_timeout`` ends the worker once it has
    waited that long on other containers' trials.
    """
    from hpo.workers.signals import Interrupted, StopSignals

    if not logging.getLogger().handlers:  # a container is an entry point of its own
        from hpo.log_setup import configure_logging, quiet_libraries

        configure_logging("INFO", debug=False)
        quiet_libraries(training=True)
    url: StorageUrl | None = None
    try:
        url = StorageUrl.parse(os.environ.get(STORAGE_ENV, ""))
        check_same_database(url, StorageUrl.parse(expected_storage))
        if gpu is not None:
            check_cuda(gpu)
        with StopSignals(grace=STOP_GRACE_SECONDS) as stop:
            summary = _run(url, study, stop, n_trials, timeout, gpu, trust_remote_code, trial_timeout, idle_timeout)
    except Interrupted as exc:  # the running trial was abandoned and re-queued: the budget is unfinished
        logger.warning("stopped (%s) with trials of study '%s' left; %s", exc, study, _RESTART)
        raise ContainerStopped(f"stopped ({exc}) with trials of study '{study}' left") from None
    except StorageError as exc:
        if not any(marker in str(exc) for marker in _PERMANENT_STORAGE_ERRORS):
            raise  # an outage: Modal retries the container
        return _config_error(url, exc)
    except HpoError as exc:
        return _config_error(url, exc)
    except OSError as exc:
        reason = f"{type(exc).__name__}: {_first_line(exc)}"
        raise ContainerFailedError(url.scrub(reason) if url else reason) from exc
    if stop.requested and summary.stopped_because == "stop signal":
        left = trials_left(url, study)
        if left:
            logger.warning(
                "stop signal with trials of study '%s' left (%d waiting or running); %s", study, left, _RESTART
            )
            raise ContainerStopped(f"stop signal with trials of study '{study}' left ({left} waiting or running)")
    return {"states": summary.states, "stopped_because": summary.stopped_because, "error": None}


def _run(
    url: StorageUrl,
    study: str,
    stop: Any,
    n_trials: int | None,
    timeout: float | None,
    gpu: str | None,
    trust_remote_code: str,
    trial_timeout: float | None,
    idle_timeout: float | None,
) -> Any:
    """The worker loop, its trials watched by the per-trial time limit when there is one."""
    import contextlib

    from hpo.cloud.trial_limit import TrialTimeLimit
    from hpo.progress import LogProgress
    from hpo.settings.remote_code import RemoteCodeConsent
    from hpo.workers.worker import run_worker

    consent = RemoteCodeConsent.parse(trust_remote_code)
    with contextlib.ExitStack() as stack:
        progress: Any = LogProgress
        if trial_timeout is not None:
            progress = stack.enter_context(TrialTimeLimit(trial_timeout)).listener(LogProgress)
        return run_worker(
            url,
            study,
            n_trials=n_trials,
            timeout=timeout,
            stop=stop,
            progress=progress,
            trust_remote_code=consent,
            priced_as=gpu,
            idle_timeout=idle_timeout,
        )


def check_same_database(found: StorageUrl, expected: StorageUrl) -> None:
    """Raise unless the secret's URL names the database checked on the launching machine: the same
    kind, user, host, port (5432 when not given) and database; the driver and options may differ."""
    if database_identity(found) != database_identity(expected):
        raise UsageError(
            f"the Modal secret's {STORAGE_ENV} is '{found}', but the study was checked on "
            f"'{expected}'; point both at the same database "
            f"(modal secret create --force hpo-storage --from-dotenv FILE, with {STORAGE_ENV}=... in FILE)"
        )


def database_identity(url: StorageUrl) -> tuple[Any, ...]:
    """What names a database: kind, user, host, port and database, without driver, password or options."""
    if url.is_sqlite:
        return ("sqlite", os.path.abspath(os.path.expanduser(url.database or "")))
    if url.is_grpc:
        return ("grpc", (url.host or "").lower(), url.port)
    from sqlalchemy.engine import make_url

    user = make_url(url.secret).username
    return ("postgresql", user, (url.host or "").lower(), url.port or POSTGRES_PORT, url.database)


def check_cuda(gpu: str) -> None:
    """Raise a config error unless torch sees the CUDA device this container asked for: training on
    the CPU would bill GPU prices for a fraction of the speed."""
    import torch

    name = cuda_device_name()
    if name is None:
        raise UsageError(
            f"this container asked for GPU {gpu} but its torch {torch.__version__} sees no CUDA device "
            f"(built for CUDA {torch.version.cuda}); refusing to train on the CPU at GPU prices"
        )
    logger.info("GPU: %s (asked for %s; its trials are priced as %s)", name, gpu, gpu)


def cuda_device_name() -> str | None:
    """The name of the CUDA device torch sees, or None."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def trials_left(url: StorageUrl, study: str) -> int:
    """Trials waiting or running in the study; unknown counts as left (a restart finds out)."""
    import optuna

    try:
        loaded = optuna.load_study(study_name=study, storage=open_storage(url).backend)
        states = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
        return len(loaded.get_trials(deepcopy=False, states=states))
    except Exception as exc:
        logger.warning("cannot count the trials left (%s); assuming some are", url.scrub(_first_line(exc)))
        return 1


def _config_error(url: StorageUrl | None, exc: HpoError) -> dict[str, Any]:
    reason = str(exc) if url is None else url.scrub(str(exc))  # a parse error is redacted already
    logger.error("%s", reason)
    return {"states": {}, "stopped_because": "", "error": reason}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
