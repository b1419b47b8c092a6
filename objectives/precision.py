"""Mixed precision: bf16 where the GPU supports it, fp16 on older GPUs, full precision on CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

Precision = Literal["bf16", "fp16", "fp32"]


def best_precision(device: str) -> Precision:
    """The fastest precision that trains stably on ``device``."""
    import torch

    if device != "cuda":
        return "fp32"  # CPU autocast is slower than fp32 on most CPUs without AMX
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


@contextlib.contextmanager
def inference_autocast(device: str, precision: Precision) -> Iterator[None]:
    """Encode under autocast on a GPU, so evaluations run in the precision training uses."""
    import torch

    if device != "cuda" or precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast("cuda", dtype=dtype):
        yield
