"""The workers of a tune phase: ``hpo worker`` as a child process, on every device given, until the
queue is empty or the phase's deadline.

The child claims no trial it could not finish before the deadline (``--timeout``); at the
deadline it is asked to stop (SIGINT: the running trial finishes), and a trial still running a
short grace later is abandoned and re-queued (``--stop-grace``). A child that still has not
ended is stopped harder. The storage URL reaches the child through its environment, never its
command line.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from hpo.store.storage import STORAGE_ENV

if TYPE_CHECKING:
    from hpo.tune.request import TuneRequest

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0


def worker_command(request: TuneRequest, study: str, timeout: float, grace: float) -> list[str]:
    command = [sys.executable, "-m", "hpo", "worker", "--study", study, "--progress", "log"]
    command += ["--timeout", f"{max(timeout, 1.0):.0f}", "--stop-grace", f"{grace:.0f}"]
    if request.gpus is not None:
        command += ["--gpus", request.gpus]
    elif request.workers > 1:
        command += ["--workers", str(request.workers)]
    return command + request.trust_remote_code.cli_args()


def run_workers(request: TuneRequest, study: str, deadline: float, trial_seconds: float = 0.0) -> int:
    """Run the study's queued trials until none is left or ``deadline`` (monotonic); the exit code."""
    stop_claiming = deadline - 0.5 * trial_seconds - time.monotonic()
    if stop_claiming <= 0:
        logger.warning("no time left for this phase; skipping it")
        return 0
    env = {**os.environ, STORAGE_ENV: request.storage_url.secret}
    grace = max(5.0, 0.25 * trial_seconds)
    command = worker_command(request, study, stop_claiming, grace)
    child = subprocess.Popen(command, env=env, stdout=_stderr())
    try:
        return _wait(child, deadline, grace + 30.0)
    except BaseException:
        _stop(child, grace=10.0)
        raise


def _stderr() -> Any:
    """Our stderr for the child's stdout (its result lines are logs to us), when it is a real file."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


def _wait(child: subprocess.Popen[bytes], deadline: float, grace: float) -> int:
    asked = False
    while True:
        code = child.poll()
        if code is not None:
            return code
        now = time.monotonic()
        if not asked and now >= deadline:
            logger.info("the phase's time is up: letting the running trials finish")
            child.send_signal(signal.SIGINT)
            asked = True
        elif asked and now >= deadline + grace:
            logger.warning("the workers did not stop in time; stopping them")
            return _stop(child, grace=10.0)
        time.sleep(POLL_SECONDS)


def _stop(child: subprocess.Popen[bytes], grace: float) -> int:
    """A second SIGINT (abandon the trial), then SIGTERM and SIGKILL if it still runs."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if child.poll() is not None:
            break
        child.send_signal(sig)
        try:
            return child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return child.wait()
