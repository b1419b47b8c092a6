"""Mixed precision: bf16 where the hardware computes it natively, fp16 on older GPUs, else fp32."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

Precision = Literal["bf16", "fp16", "fp32"]
PrecisionSetting = Literal["auto", "fp32"]
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def best_precision(device: str, setting: PrecisionSetting = "auto") -> Precision:
    """The fastest precision that trains stably on ``device``; ``fp32`` when the study asks for it."""
    if setting == "fp32":
        return "fp32"
    if device == "cpu":
        # Without native bf16 instructions, CPU autocast emulates bf16 and runs slower than fp32.
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if device != "cuda":
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


@functools.cache  # the CPU does not change while the process runs: read its flags once
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has bf16 dot-product instructions (AVX512-BF16 or AMX), as Linux reports them."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_BF16_CPU_FLAGS & set(line.split(":", 1)[-1].split()))
    return False


@contextlib.contextmanager
def inference_autocast(device: str, precision: Precision) -> Iterator[None]:
    """Encode under autocast, so evaluations run in the precision training uses."""
    import torch

    if device not in ("cuda", "cpu") or precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device, dtype=dtype):
        yield
