from __future__ import annotations

import pytest
import torch

from objectives.precision import best_precision, inference_autocast


def test_cpu_runs_in_full_precision() -> None:
    assert best_precision("cpu") == "fp32"
    with inference_autocast("cpu", "fp32"):
        assert not torch.is_autocast_enabled("cuda")


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16"), (False, "fp16")])
def test_gpus_use_bf16_where_supported(monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert best_precision("cuda") == expected
