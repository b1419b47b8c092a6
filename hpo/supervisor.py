"""``--gpus``: one worker child process per GPU, with CUDA_VISIBLE_DEVICES set, supervised.

The parent forwards SIGINT/SIGTERM to every child and reports each child's exit. The storage URL
travels to the children in the environment, never on their command line (where ``ps`` shows it).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from hpo.errors import UsageError
from hpo.storage import STORAGE_ENV

logger = logging.getLogger(__name__)


def parse_gpus(value: str) -> list[str]:
    """'0,1' -> ['0', '1']; 'all' -> every visible GPU."""
    if value.strip() == "all":
        count = _gpu_count()
        if count == 0:
            raise UsageError("--gpus all: no CUDA GPU is visible on this machine")
        return [str(i) for i in range(count)]
    gpus = [part.strip() for part in value.split(",")]
    if not gpus or any(not g.isdigit() for g in gpus):
        raise UsageError(f"--gpus '{value}': give GPU indices like 0,1 or 'all'")
    if len(set(gpus)) != len(gpus):
        raise UsageError(f"--gpus '{value}': a GPU is listed twice")
    return gpus


def run_supervised(gpus: list[str], storage_url: str, worker_args: list[str], max_restarts: int = 3) -> int:
    """Run one ``hpo worker`` per GPU until all have stopped; returns the worst exit code.

    A child that crashes (exits non-zero without having been signalled) is restarted, at most
    ``max_restarts`` times per GPU; a child that exits 0 has finished its share of the study.
    """
    children = {gpu: _start(gpu, storage_url, worker_args) for gpu in gpus}
    restarts = dict.fromkeys(gpus, 0)
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
            for gpu, child in children.items():
                if gpu in codes or (code := child.poll()) is None:
                    continue
                log = logger.info if code == 0 else logger.error
                log("GPU %s: worker pid %d exited with %d", gpu, child.pid, code)
                if code != 0 and not stopping and restarts[gpu] < max_restarts:
                    restarts[gpu] += 1
                    logger.warning("GPU %s: restarting its worker (%d of %d)", gpu, restarts[gpu], max_restarts)
                    children[gpu] = _start(gpu, storage_url, worker_args)
                else:
                    codes[gpu] = code
            time.sleep(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max(codes.values(), key=abs)


def _start(gpu: str, storage_url: str, worker_args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, STORAGE_ENV: storage_url}
    child = subprocess.Popen([sys.executable, "-m", "hpo", "worker", *worker_args], env=env)
    logger.info("GPU %s: worker pid %d started", gpu, child.pid)
    return child


def _gpu_count() -> int:
    import torch

    return int(torch.cuda.device_count())
