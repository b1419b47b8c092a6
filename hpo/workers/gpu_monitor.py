"""How busy a machine's GPUs were: their utilization sampled once a second while workers run.

NVML (the ``nvidia-ml-py`` package, the ``gpu`` extra) is asked directly when it is installed;
otherwise ``nvidia-smi`` (which every NVIDIA driver ships) is run once per sample; without
either, nothing is measured and the report says so. A GPU's busy share is the mean of its
utilization samples: the share of each second in which a kernel ran on it, as NVML defines it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

logger = logging.getLogger(__name__)

# (utilization percent, memory used in bytes) per GPU, in the order asked for
Reader = Callable[[], "list[tuple[float, int]]"]


@dataclass
class GpuUsage:
    """The samples of one GPU."""

    index: int
    utilization: list[float] = field(default_factory=list)
    memory_used: list[int] = field(default_factory=list)

    @property
    def busy_share(self) -> float | None:
        return sum(self.utilization) / len(self.utilization) / 100 if self.utilization else None

    @property
    def peak_memory_bytes(self) -> int | None:
        return max(self.memory_used) if self.memory_used else None


def nvml_reader(indices: Sequence[int]) -> tuple[Reader, str] | None:
    """A reader of the GPUs ``indices`` (NVML's numbering) through NVML, or None when it is not there."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
    except Exception as exc:  # no package, no driver, no such GPU
        logger.debug("NVML not available: %s", exc)
        return None

    def read() -> list[tuple[float, int]]:
        return [
            (
                float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu),
                int(pynvml.nvmlDeviceGetMemoryInfo(h).used),
            )
            for h in handles
        ]

    return read, "NVML"


def smi_reader(indices: Sequence[int]) -> tuple[Reader, str] | None:
    """A reader through ``nvidia-smi``, or None when it is not installed or fails."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    command = [
        smi,
        "--query-gpu=utilization.gpu,memory.used",
        "--format=csv,noheader,nounits",
        "-i",
        ",".join(map(str, indices)),
    ]

    def read() -> list[tuple[float, int]]:
        out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=10).stdout
        rows = [line.split(",") for line in out.strip().splitlines()]
        return [(float(util), int(float(used)) * 2**20) for util, used in rows]

    try:
        read()
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        logger.debug("nvidia-smi not usable: %s", exc)
        return None
    return read, "nvidia-smi"


class GpuMonitor:
    """Samples the GPUs ``indices`` every ``interval`` seconds in a thread while the block runs."""

    def __init__(self, indices: Sequence[int], interval: float = 1.0, reader: tuple[Reader, str] | None = None) -> None:
        self.usage = [GpuUsage(i) for i in indices]
        self.interval = interval
        found = reader or (nvml_reader(indices) or smi_reader(indices) if indices else None)
        self.reader: Reader | None = found[0] if found else None
        self.source = found[1] if found else "none"
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="gpu-monitor", daemon=True)
        self._started = 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self.interval)

    def sample_once(self) -> None:
        if self.reader is None:
            return
        try:
            readings = self.reader()
        except Exception as exc:  # a failed sample is skipped, never fatal to the workers
            logger.debug("GPU sample failed: %s", exc)
            return
        for usage, (utilization, used) in zip(self.usage, readings, strict=False):
            usage.utilization.append(utilization)
            usage.memory_used.append(used)

    def __enter__(self) -> GpuMonitor:
        self._started = time.monotonic()
        if self.reader is not None:
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.seconds = time.monotonic() - self._started

    def describe(self) -> list[str]:
        """One line per GPU: busy share over the wall time, peak memory used, and the source."""
        if self.reader is None:
            return [f"GPU {u.index}: busy time not measured (neither NVML nor nvidia-smi found)" for u in self.usage]
        lines = []
        for usage in self.usage:
            share, peak = usage.busy_share, usage.peak_memory_bytes
            if share is None or peak is None:
                lines.append(f"GPU {usage.index}: no samples")
                continue
            lines.append(
                f"GPU {usage.index}: busy {share:.0%} of {self.seconds:.0f} s ({share * self.seconds:.0f} s), "
                f"peak memory used {peak / 2**30:.1f} GiB ({self.source}, {len(usage.utilization)} samples)"
            )
        return lines
