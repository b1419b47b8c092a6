"""Several worker processes on one machine, supervised: ``--gpus 0,1 [--per-gpu N]`` or ``--workers N``.

Each child is an ``hpo worker`` process; a GPU child sees only its GPU (``CUDA_VISIBLE_DEVICES``).
The parent starts no more children than the machine holds and the study has trials left
(:mod:`hpo.workers.capacity`), gives each an even share of the CPU cores, forwards SIGINT/SIGTERM
to every child (in their own session, so a terminal's Ctrl-C reaches them once, through the
parent), reports each child's exit and restarts a child that crashed. Children die with their
parent however it dies (:mod:`hpo.workers.parent_watch`). The storage URL travels to the children
in the environment, never on their command line (where ``ps`` shows it); the parent's output flags
(``--log-level``, ``--quiet``, ``--debug``) travel with them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType

from hpo.errors import UsageError
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.store.storage import STORAGE_ENV, StorageUrl
from hpo.workers.capacity import (
    CPU_THREADS_ENV,
    check_worker_count,
    machine_cores,
    threads_per_worker,
    trials_left,
    use_thread_share,
)
from hpo.workers.parent_watch import ParentLink, follow_parent

logger = logging.getLogger(__name__)


DEVICE_SHARE_ENV = "HPO_DEVICE_SHARE"  # the share of its device a child has, for pricing (hpo.stats.cost)
ABANDONED = 130  # the exit of a worker that abandoned its trial on a second stop signal


@dataclass(frozen=True)
class Slot:
    """One supervised child: how it is named in logs and what its environment adds."""

    label: str
    env: dict[str, str] = field(default_factory=dict)


def gpu_slots(value: str, per_gpu: int = 1) -> list[Slot]:
    """'0,1' -> a slot per listed GPU (``per_gpu`` each); 'all' -> every visible GPU. Checked against the GPUs."""
    count = _gpu_count()
    if value.strip() == "all":
        if count == 0:
            raise UsageError("--gpus all: no CUDA GPU is visible on this machine")
        gpus = [str(i) for i in range(count)]
    else:
        gpus = [part.strip() for part in value.split(",")]
        if not gpus or any(not g.isdigit() for g in gpus):
            raise UsageError(f"--gpus '{value}': give GPU indices like 0,1 or 'all'")
        if len(set(gpus)) != len(gpus):
            raise UsageError(f"--gpus '{value}': a GPU is listed twice")
        missing = [g for g in gpus if int(g) >= count]
        if missing:
            visible = f"{count} ({', '.join(map(str, range(count)))})" if count else "none"
            raise UsageError(
                f"--gpus '{value}': GPU {missing[0]} is not visible on this machine (visible GPUs: {visible}); "
                "without a GPU, use --workers N"
            )
    check_worker_count(f"--gpus {value} --per-gpu {per_gpu}", len(gpus) * per_gpu, machine_cores(), lambda: count)
    if per_gpu == 1:
        return [Slot(f"GPU {gpu}", {"CUDA_VISIBLE_DEVICES": gpu}) for gpu in gpus]
    shared = {DEVICE_SHARE_ENV: f"{1 / per_gpu:.6g}"}
    # Round robin: when the study has fewer trials left than slots, the first ones span the GPUs.
    return [
        Slot(f"GPU {gpu} #{n}", {"CUDA_VISIBLE_DEVICES": gpu, **shared}) for n in range(1, per_gpu + 1) for gpu in gpus
    ]


def local_slots(workers: int) -> list[Slot]:
    """``workers`` children sharing this machine's devices (each pays 1/workers of the device)."""
    check_worker_count(f"--workers {workers}", workers, machine_cores(), _gpu_count)
    shared = {DEVICE_SHARE_ENV: f"{1 / workers:.6g}"} if workers > 1 else {}
    return [Slot(f"worker {n}", dict(shared)) for n in range(1, workers + 1)]


def check_options(
    gpus: str | None, per_gpu: int | None, workers: int | None, max_restarts: int | None, progress: str
) -> None:
    """Refuse worker options that would do nothing in this combination."""
    if gpus is not None and workers is not None:
        raise UsageError("--gpus and --workers: give one (several workers per GPU: --gpus IDS --per-gpu N)")
    if per_gpu is not None and gpus is None:
        raise UsageError(f"--per-gpu {per_gpu} applies only with --gpus: add --gpus IDS, or use --workers N")
    if gpus is None and workers is None:
        if max_restarts is not None:
            raise UsageError(f"--max-restarts {max_restarts} applies only with --gpus or --workers (a supervisor)")
        return
    if progress == "bars":
        raise UsageError(
            "--progress bars: supervised workers share one terminal and log plain lines; drop it or use --progress log"
        )


def supervised_slots(gpus: str | None, per_gpu: int, workers: int, storage_url: StorageUrl, study: str) -> list[Slot]:
    """The children to start: the asked slots, no more than the study's waiting trials, each with its
    share of the CPU cores (and of its device)."""
    slots = gpu_slots(gpus, per_gpu) if gpus is not None else local_slots(workers)
    left = trials_left(storage_url, study)
    if left < len(slots):
        logger.info(
            "study '%s' has %s left to run: starting %d of %d workers", study, _count(left, "trial"), left, len(slots)
        )
        slots = _reshared(slots[:left])
    if not slots:
        return []
    cores = machine_cores()
    threads = threads_per_worker(cores, len(slots))
    logger.info(
        "%s share %s: %s each", _count(len(slots), "worker"), _count(cores, "CPU core"), _count(threads, "thread")
    )
    if gpus is None and len(slots) > cores and _gpu_count() == 0:
        logger.warning(
            "%d workers on %d CPU cores slow every trial: on CPU, run at most one worker per core (--workers %d)",
            len(slots),
            cores,
            cores,
        )
    threaded = {CPU_THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads)}
    return [Slot(slot.label, {**slot.env, **threaded}) for slot in slots]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _reshared(slots: list[Slot]) -> list[Slot]:
    """The slots with each one's device share recomputed: 1 / the slots left on its device."""
    devices = [slot.env.get("CUDA_VISIBLE_DEVICES", "") for slot in slots]
    reshared = []
    for slot, device in zip(slots, devices, strict=True):
        env = {k: v for k, v in slot.env.items() if k != DEVICE_SHARE_ENV}
        sharing = devices.count(device)
        reshared.append(Slot(slot.label, {**env, DEVICE_SHARE_ENV: f"{1 / sharing:.6g}"} if sharing > 1 else env))
    return reshared


def as_supervised_child(environ: Mapping[str, str]) -> None:
    """In an ``hpo worker`` a parent started: die with the parent, and use this worker's share of the cores."""
    follow_parent(environ)
    if CPU_THREADS_ENV in environ:
        value = environ[CPU_THREADS_ENV]
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"{CPU_THREADS_ENV}={value}: give a whole number of CPU threads, 1 or more (or unset it)")
        threads = use_thread_share(int(value))
        logger.info("this worker uses %s (its share of the machine's cores)", _count(threads, "CPU thread"))


def worker_args(
    study: str,
    n_trials: int | None,
    timeout: float | None,
    stop_grace: float | None,
    consent: RemoteCodeConsent,
) -> list[str]:
    """The ``hpo worker`` arguments of a supervised child (no storage URL: it goes in the environment)."""
    args = ["--study", study, "--progress", "log"]  # one terminal cannot hold several live displays
    args += ["--n-trials", str(n_trials)] if n_trials else []
    args += ["--timeout", str(timeout)] if timeout else []
    args += ["--stop-grace", str(stop_grace)] if stop_grace else []
    return args + consent.cli_args()


def run_supervised(
    slots: list[Slot], storage_url: StorageUrl, hpo_args: list[str], worker_args: list[str], max_restarts: int = 3
) -> int:
    """Run ``hpo [hpo_args] worker [worker_args]`` per slot until all have stopped; returns the worst exit code.

    A child that crashes (exits non-zero without having been signalled) is restarted, at most
    ``max_restarts`` times per slot; a child that exits 0 has finished its share of the study.
    """
    command = [sys.executable, "-m", "hpo", *hpo_args, "worker", *worker_args]
    link = ParentLink()
    children: dict[str, subprocess.Popen[bytes]] = {}
    by_label = {slot.label: slot for slot in slots}
    codes: dict[str, int] = {}
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    # Forwarding is in place before the first child starts: a stop during start-up reaches the
    # children already running (in their own session, a terminal's Ctrl-C does not) and starts no more.
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for slot in slots:
            if stopping:
                break
            children[slot.label] = _start(slot, storage_url, command, link)
        restarts = dict.fromkeys(children, 0)
        while len(codes) < len(children):
            for label, child in children.items():
                if label in codes or (code := child.poll()) is None:
                    continue
                _log_exit(label, child.pid, code, stopping)
                if code != 0 and not stopping and restarts[label] < max_restarts:
                    restarts[label] += 1
                    logger.warning("%s: restarting its worker (%d of %d)", label, restarts[label], max_restarts)
                    children[label] = _start(by_label[label], storage_url, command, link)
                else:
                    codes[label] = code
            time.sleep(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        link.close()
    return max(codes.values(), key=abs, default=ABANDONED)  # none started: stopped during start-up


def _log_exit(label: str, pid: int, code: int, stopping: bool) -> None:
    if code == 0:
        logger.info("%s: worker pid %d exited with 0", label, pid)
    elif code == ABANDONED and stopping:  # the second stop signal, as asked: not an error
        logger.warning("%s: worker pid %d abandoned its running trial (exit %d; it will be re-run)", label, pid, code)
    else:
        logger.error("%s: worker pid %d exited with %d", label, pid, code)


def run_supervised_study(
    slots: list[Slot],
    storage_url: StorageUrl,
    hpo_args: list[str],
    worker_args: list[str],
    study_name: str,
    max_restarts: int = 3,
) -> tuple[int, list[str]]:
    """:func:`run_supervised`, then the run's report: trials/hour and each GPU's busy time.

    Returns the worst exit code and the report's lines (for stdout).
    """
    from datetime import datetime

    from hpo.workers.gpu_monitor import GpuMonitor
    from hpo.workers.throughput import describe_throughput, trials_ended_since

    if not slots:
        return 0, [f"study '{study_name}' has no trials left to run: no worker started"]
    since = datetime.now()
    gpus = sorted({int(slot.env["CUDA_VISIBLE_DEVICES"]) for slot in slots if "CUDA_VISIBLE_DEVICES" in slot.env})
    with GpuMonitor(gpus) as monitor:
        code = run_supervised(slots, storage_url, hpo_args, worker_args, max_restarts)
    try:
        ended = trials_ended_since(storage_url, study_name, since)
    except Exception as exc:  # the report must not hide the workers' exit code
        logger.warning("could not count the trials that ended: %s", storage_url.scrub(str(exc)))
        return code, monitor.describe()
    return code, [describe_throughput(ended, monitor.seconds, len(slots)), *monitor.describe()]


def _start(slot: Slot, storage_url: StorageUrl, command: list[str], link: ParentLink) -> subprocess.Popen[bytes]:
    env = {**os.environ, **slot.env, **link.env(), STORAGE_ENV: storage_url.secret}
    # A session of its own: a terminal's Ctrl-C reaches the child once, forwarded by the parent.
    child = subprocess.Popen(command, env=env, pass_fds=(link.read_fd,), start_new_session=True)
    logger.info("%s: worker pid %d started", slot.label, child.pid)
    return child


def _gpu_count() -> int:
    import torch

    return int(torch.cuda.device_count())
