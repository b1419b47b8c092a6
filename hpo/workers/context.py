"""What every trial of one worker process shares: loaded once by the worker, passed to each trial."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo.progress import ProgressListener
from hpo.settings.config import StudyConfig
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.store.storage import Storage

if TYPE_CHECKING:
    import optuna

    from hpo.training.gpu_memory import GpuSharing
    from hpo.training.result import RunResult
    from hpo.training.task import Task

# One trial's fine-tuning run: train_trial with the worker's cache, or a benchmark's stand-in.
TrainFunction = Callable[..., "RunResult"]


@dataclass(frozen=True)
class WorkerContext:
    """What every trial of one worker process shares: loaded once, passed explicitly."""

    study: optuna.Study
    storage: Storage
    config: StudyConfig
    data: Any
    task: Task[Any]
    listener: ProgressListener
    train: TrainFunction
    gpu: GpuSharing | None = None
    device: str = "cpu"
    device_type: str = "cpu"
    device_share: float = 1.0
    consent: RemoteCodeConsent = field(default_factory=RemoteCodeConsent)  # whose Hub code may run
