"""Several worker processes on one machine, supervised: ``--gpus 0,1 [--per-gpu N]`` or ``--workers N``.

Each child is an ``hpo worker`` process; a GPU child sees only its GPU (``CUDA_VISIBLE_DEVICES``).
The parent forwards SIGINT/SIGTERM to every child, reports each child's exit and restarts a child
that crashed. The storage URL travels to the children in the environment, never on their command
line (where ``ps`` shows it); the parent's output flags (``--log-level``, ``--quiet``, ``--debug``)
travel with them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from hpo.errors import UsageError
from hpo.store.storage import STORAGE_ENV, StorageUrl

logger = logging.getLogger(__name__)


DEVICE_SHARE_ENV = "HPO_DEVICE_SHARE"  # the share of its device a child has, for pricing (hpo.stats.cost)


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
    if per_gpu == 1:
        return [Slot(f"GPU {gpu}", {"CUDA_VISIBLE_DEVICES": gpu}) for gpu in gpus]
    shared = {DEVICE_SHARE_ENV: f"{1 / per_gpu:.6g}"}
    return [
        Slot(f"GPU {gpu} #{n}", {"CUDA_VISIBLE_DEVICES": gpu, **shared}) for gpu in gpus for n in range(1, per_gpu + 1)
    ]


def local_slots(workers: int) -> list[Slot]:
    """``workers`` children sharing this machine's devices (each pays 1/workers of the device)."""
    shared = {DEVICE_SHARE_ENV: f"{1 / workers:.6g}"} if workers > 1 else {}
    return [Slot(f"worker {n}", dict(shared)) for n in range(1, workers + 1)]


def worker_args(
    study: str, n_trials: int | None, timeout: float | None, stop_grace: float | None, trust_remote_code: bool
) -> list[str]:
    """The ``hpo worker`` arguments of a supervised child (no storage URL: it goes in the environment)."""
    args = ["--study", study, "--progress", "log"]  # one terminal cannot hold several live displays
    args += ["--n-trials", str(n_trials)] if n_trials else []
    args += ["--timeout", str(timeout)] if timeout else []
    args += ["--stop-grace", str(stop_grace)] if stop_grace else []
    return args + (["--trust-remote-code"] if trust_remote_code else [])


def run_supervised(
    slots: list[Slot], storage_url: StorageUrl, hpo_args: list[str], worker_args: list[str], max_restarts: int = 3
) -> int:
    """Run ``hpo [hpo_args] worker [worker_args]`` per slot until all have stopped; returns the worst exit code.

    A child that crashes (exits non-zero without having been signalled) is restarted, at most
    ``max_restarts`` times per slot; a child that exits 0 has finished its share of the study.
    """
    command = [sys.executable, "-m", "hpo", *hpo_args, "worker", *worker_args]
    children = {slot.label: _start(slot, storage_url, command) for slot in slots}
    by_label = {slot.label: slot for slot in slots}
    restarts = dict.fromkeys(children, 0)
    codes: dict[str, int] = {}
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while len(codes) < len(children):
            for label, child in children.items():
                if label in codes or (code := child.poll()) is None:
                    continue
                log = logger.info if code == 0 else logger.error
                log("%s: worker pid %d exited with %d", label, child.pid, code)
                if code != 0 and not stopping and restarts[label] < max_restarts:
                    restarts[label] += 1
                    logger.warning("%s: restarting its worker (%d of %d)", label, restarts[label], max_restarts)
                    children[label] = _start(by_label[label], storage_url, command)
                else:
                    codes[label] = code
            time.sleep(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max(codes.values(), key=abs)


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


def _start(slot: Slot, storage_url: StorageUrl, command: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, **slot.env, STORAGE_ENV: storage_url.secret}
    child = subprocess.Popen(command, env=env)
    logger.info("%s: worker pid %d started", slot.label, child.pid)
    return child


def _gpu_count() -> int:
    import torch

    return int(torch.cuda.device_count())
