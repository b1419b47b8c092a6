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


def run_supervised(gpus: list[str], storage_url: str, worker_args: list[str]) -> int:
    """Start one ``hpo worker`` per GPU and wait for all; returns the worst exit code."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    for gpu in gpus:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, STORAGE_ENV: storage_url}
        children[gpu] = subprocess.Popen([sys.executable, "-m", "hpo", "worker", *worker_args], env=env)
        logger.info("GPU %s: worker pid %d started", gpu, children[gpu].pid)

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = {gpu: child.wait() for gpu, child in children.items()}
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for gpu, code in codes.items():
        log = logger.info if code == 0 else logger.error
        log("GPU %s: worker pid %d exited with %d", gpu, children[gpu].pid, code)
    return max(codes.values(), key=abs)


def _gpu_count() -> int:
    import torch

    return int(torch.cuda.device_count())
