from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hpo.training import precision
from hpo.training.precision import best_precision, cpu_has_native_bf16, inference_autocast


def test_cpu_without_native_bf16_runs_in_full_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert best_precision("cpu") == "fp32"
    with inference_autocast("cpu", "fp32"):
        assert not torch.is_autocast_enabled("cpu")


def test_cpu_with_native_bf16_encodes_under_autocast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert best_precision("cpu") == "bf16"
    assert best_precision("cpu", "fp32") == "fp32"
    with inference_autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu avx2 avx512f avx512_bf16 vaes", True), ("fpu avx2 amx_bf16 amx_tile", True), ("fpu avx2 avx512f", False)],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path, flags: str, expected: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(cpuinfo) is expected
    assert cpu_has_native_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16"), (False, "fp16")])
def test_gpus_use_bf16_where_supported(monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert best_precision("cuda") == expected
    assert best_precision("cuda", "fp32") == "fp32"
