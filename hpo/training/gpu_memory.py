"""Several trials on one GPU: a trial's memory estimate, admission by free memory, and whose fault an OOM is.

A small model leaves most of a large GPU unused, so ``hpo worker --gpus 0 --per-gpu N`` runs N
workers on it. Before a trial trains, its worker waits until the GPU's free memory covers the
trial's estimate; the check and the trial's first training step happen under a lock of that GPU,
so two workers never both count the same free memory. The estimate starts from the model's size,
the batch, ``max_seq_length`` and the precision, and is scaled to the peaks that earlier trials
of the same model recorded in the study. A trial that runs out of memory while other processes
hold memory on its GPU was crowded out: it is re-queued, not failed.

The memory reader is injected (``torch.cuda.mem_get_info`` on a GPU, none on a CPU), so all of
this runs and is tested without a GPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MemoryReader = Callable[[], "tuple[int, int] | None"]  # (free, total) bytes of this process's GPU
GIB = 2**30
CONTEXT_BYTES = GIB // 2  # a CUDA context and the allocator's slack, outside max_memory_allocated
NEIGHBOUR_ALLOWANCE = GIB  # what this process itself may hold besides its tensors (context, cache)
MAX_OOM_REQUEUES = 3


@dataclass(frozen=True)
class ModelShape:
    """What the memory of a transformer's training depends on."""

    parameters: int
    hidden: int
    layers: int
    heads: int


def cuda_memory() -> tuple[int, int] | None:
    """Free and total bytes of this process's GPU (all processes counted), or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return int(free), int(total)


def model_shape(model: str) -> ModelShape | None:
    """The shape of ``model`` (a Hub id or a folder) from its config, without loading weights; None if unknown."""
    from hpo.training.models import resolve_model_path

    try:
        from transformers import AutoConfig

        config: Any = AutoConfig.from_pretrained(resolve_model_path(model))
    except Exception as exc:  # an unusual model folder: admission falls back to the study's records
        logger.debug("no config for %s: %s", model, exc)
        return None
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    if not hidden or not layers:
        return None
    heads = int(getattr(config, "num_attention_heads", 0) or max(1, hidden // 64))
    ffn = int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    vocab = int(getattr(config, "vocab_size", 0) or 30_000)
    positions = int(getattr(config, "max_position_embeddings", 0) or 512)
    parameters = (vocab + positions) * hidden + layers * (4 * hidden * hidden + 2 * hidden * ffn + 9 * hidden)
    return ModelShape(parameters, hidden, layers, heads)


def estimate_bytes(shape: ModelShape, batch_size: int, max_seq_length: int, precision: str, columns: int = 2) -> int:
    """Peak GPU memory of a training run, before any measurement: weights, gradients and Adam in
    fp32 plus the base copy a worker keeps (20 bytes a parameter), and the activations of
    ``columns`` texts per example padded to ``max_seq_length`` (about 34 values a token and layer,
    and the attention scores), in 16 or 32 bits."""
    width = 2 if precision in ("bf16", "fp16") else 4
    sequences = batch_size * columns
    tokens = sequences * max_seq_length
    scores = 5 * sequences * shape.heads * max_seq_length**2 * width // 2
    activations = shape.layers * (17 * width * tokens * shape.hidden + scores)
    return 20 * shape.parameters + activations


@dataclass(frozen=True)
class PastRun:
    """An earlier trial of the study: its estimate by :func:`estimate_bytes` and the peak it measured."""

    model: str
    estimate: int
    peak: int


def refined_estimate(model: str, estimate: int, history: Iterable[PastRun], margin: float = 1.2) -> int:
    """``estimate`` scaled by the largest measured/estimated ratio of earlier runs of ``model``, plus
    ``margin``; the estimate alone (with the margin) when there are none. Includes a CUDA context."""
    ratios = [run.peak / run.estimate for run in history if run.model == model and run.estimate > 0 and run.peak > 0]
    scale = max(ratios) if ratios else 1.0
    return int(estimate * scale * margin) + CONTEXT_BYTES


@dataclass(frozen=True)
class Admitted:
    """How admission went: seconds waited, and the free and total bytes seen last (None without a GPU)."""

    waited: float
    free: int | None
    total: int | None
    fits: bool


@dataclass
class Admission:
    """Waits, under a per-GPU lock, until the GPU's free memory covers a trial's estimate.

    ``reader`` gives (free, total) bytes or None (no GPU: everything is admitted at once).
    ``lock_path`` names the GPU's lock file (the same for every process on that GPU). A trial that
    could not fit even on an empty GPU, or that waited ``max_wait`` seconds, is admitted anyway:
    waiting longer would not help, and an OOM then tells.
    """

    reader: MemoryReader
    lock_path: Path | None = None
    poll_seconds: float = 2.0
    max_wait: float = 900.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Held from the memory check until the admitted trial holds its memory (its first step)."""
        if self.lock_path is None:
            yield
            return
        from filelock import FileLock

        with FileLock(str(self.lock_path)):
            yield

    def wait(self, need: int, stop: Callable[[], bool] = lambda: False) -> Admitted:
        """Return once ``need`` bytes are free (or waiting cannot help, or ``stop()`` says so)."""
        started = self.clock()
        logged = False
        while True:
            reading = self.reader()
            if reading is None:
                return Admitted(0.0, None, None, True)
            free, total = reading
            waited = self.clock() - started
            if free >= need:
                return Admitted(waited, free, total, True)
            if need > total - NEIGHBOUR_ALLOWANCE:
                logger.warning(
                    "a trial needs about %.1f GiB of a %.1f GiB GPU: running it anyway",
                    need / GIB,
                    total / GIB,
                )
                return Admitted(waited, free, total, False)
            if waited >= self.max_wait or stop():
                logger.warning("waited %.0f s for %.1f GiB of GPU memory: running the trial anyway", waited, need / GIB)
                return Admitted(waited, free, total, False)
            if not logged:
                logger.info("waiting for %.1f GiB of GPU memory (%.1f GiB free)", need / GIB, free / GIB)
                logged = True
            self.sleep(self.poll_seconds)


def neighbours_hold(reader: MemoryReader, own_reserved: int) -> int | None:
    """Bytes that other processes hold on this GPU, when more than this process's own overhead; else None.

    Called after an out-of-memory error, once this process has released what it could: what is
    still used and not ours belongs to neighbours.
    """
    reading = reader()
    if reading is None:
        return None
    free, total = reading
    others = total - free - own_reserved
    return others if others > NEIGHBOUR_ALLOWANCE else None


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a GPU allocation failure (torch's OutOfMemoryError or its message)."""
    if type(error).__name__ == "OutOfMemoryError":
        return True
    return "out of memory" in str(error).lower() and "cuda" in str(error).lower()


def gpu_lock_path(identity: str) -> Path:
    """The admission lock of the GPU ``identity`` (its UUID): one file per physical GPU on the machine."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"hpo-gpu-{digest}.lock"


def cuda_identity() -> str | None:
    """The UUID of this process's GPU (``CUDA_VISIBLE_DEVICES`` renumbers devices; the UUID does not)."""
    import torch

    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(torch.cuda.current_device())
    return str(getattr(properties, "uuid", "")) or f"{properties.name}-{torch.cuda.current_device()}"


def past_runs(trials: Iterable[Any], shape_of: Callable[[str], ModelShape | None]) -> list[PastRun]:
    """The study's complete trials that measured CUDA peak memory, with what :func:`estimate_bytes` said."""
    from hpo import attrs

    runs = []
    for trial in trials:
        user: Mapping[str, Any] = trial.user_attrs
        training = user.get(attrs.TRAINING) or {}
        if user.get(attrs.MEMORY_KIND) != "cuda_max_allocated" or not training.get("model"):
            continue
        shape = shape_of(training["model"])
        precision = str(user.get(attrs.DEVICE, "")).rsplit(", ", 1)[-1]
        if shape is None or not training.get("batch_size"):
            continue
        length = int(training.get("max_seq_length") or 512)
        estimate = estimate_bytes(shape, int(training["batch_size"]), length, precision)
        runs.append(PastRun(training["model"], estimate, int(float(user.get(attrs.PEAK_MEMORY_MB, 0)) * 2**20)))
    return runs


@dataclass
class GpuSharing:
    """What a worker needs to share its GPU: the admission, the estimate of a trial, and the OOM verdict."""

    admission: Admission
    reader: MemoryReader
    precision: str
    own_reserved: Callable[[], int] = lambda: 0
    shape_of: Callable[[str], ModelShape | None] = model_shape
    _shapes: dict[str, ModelShape | None] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def for_this_process(cls, precision_setting: str) -> GpuSharing | None:
        """Sharing of this process's CUDA GPU, or None on a machine without one."""
        import torch

        from hpo.training.models import best_device
        from hpo.training.precision import best_precision

        identity = cuda_identity()
        if identity is None:
            return None
        precision = best_precision(best_device(), "fp32" if precision_setting == "fp32" else "auto")
        return cls(Admission(cuda_memory, gpu_lock_path(identity)), cuda_memory, precision, torch.cuda.memory_reserved)

    def shape(self, model: str) -> ModelShape | None:
        if model not in self._shapes:
            self._shapes[model] = self.shape_of(model)
        return self._shapes[model]

    def estimate(self, model: str, batch_size: int, max_seq_length: int | None, trials: Iterable[Any]) -> int:
        """Bytes a trial of ``model`` needs, refined by the study's ``trials`` that measured their peak."""
        shape = self.shape(model)
        if shape is None:
            return CONTEXT_BYTES
        estimate = estimate_bytes(shape, batch_size, max_seq_length or 512, self.precision)
        return refined_estimate(model, estimate, past_runs(trials, self.shape))

    def crowded_out(self) -> int | None:
        """After an OOM: bytes other processes hold on the GPU when they, not this trial, are to blame."""
        import gc

        gc.collect()
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        return neighbours_hold(self.reader, self.own_reserved())
