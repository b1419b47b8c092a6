"""How many workers one machine may run, and how its CPU cores are shared among them.

Each worker is a whole process holding its own model copy; past a few per CPU core (or per GPU)
they only slow one another and exhaust memory, so ``--workers`` is refused above
:data:`WORKERS_PER_DEVICE` times the larger of the core and GPU counts. Nor does a parent start
more workers than the study has trials left (waiting or running): a finished study starts none. On CPU, the cores
are divided evenly: each worker's torch uses ``cores // workers`` threads (at least one).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from hpo.errors import UsageError

if TYPE_CHECKING:
    from hpo.store.storage import StorageUrl

WORKERS_PER_DEVICE = 4
CPU_THREADS_ENV = "HPO_CPU_THREADS"  # a supervised child's share of the machine's cores


def machine_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_worker_count(option: str, workers: int, cores: int, gpu_count: Callable[[], int]) -> None:
    """Refuse more workers than the machine can hold; GPUs are counted only when the cores do not suffice."""
    if workers <= WORKERS_PER_DEVICE * cores:
        return
    gpus = gpu_count()
    limit = WORKERS_PER_DEVICE * max(cores, gpus)
    if workers > limit:
        raise UsageError(
            f"{option}: {workers} workers is more than this machine can run (at most {limit}: "
            f"{WORKERS_PER_DEVICE} per CPU core or GPU, with {cores} cores and {gpus} GPUs); start fewer"
        )


def threads_per_worker(cores: int, workers: int) -> int:
    """Each worker's even share of the cores, at least one thread."""
    return max(1, cores // workers)


def trials_left(storage_url: StorageUrl, study_name: str) -> int:
    """The study's trials left to run: waiting, or running (a killed worker's goes stale and runs again).

    The stored study is loaded and checked first.
    """
    import optuna

    from hpo.store.storage import open_storage
    from hpo.store.study import load_stored_study

    stored = load_stored_study(open_storage(storage_url), study_name)
    states = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
    return len(stored.study.get_trials(deepcopy=False, states=states))


def use_thread_share(threads: int) -> int:
    """Make this process's torch use ``threads`` CPU threads; returns what torch now reports."""
    import torch

    torch.set_num_threads(threads)
    return int(torch.get_num_threads())
