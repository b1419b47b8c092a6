"""benchmarks/gpu_profile.py --smoke: every section runs on a CPU with the tiny model, as the GPU bundle starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "bioasq"


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/bioasq beside the checkout")
def test_smoke_profile_measures_every_section(tmp_path: Path) -> None:
    output = tmp_path / "profile.json"
    command = [sys.executable, "benchmarks/gpu_profile.py", "--smoke", "--workdir", str(tmp_path / "work")]
    done = subprocess.run(
        [*command, "--output", str(output), "--budget", "1200"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["smoke"] is True and report["device"] == "cpu"
    section = report["bare_vs_hpo"]
    assert set(section["bare"]) == {"dataloader_num_workers=0", "dataloader_num_workers=2"}
    assert all(run["samples_per_second"] > 0 for run in section["bare"].values())
    assert section["hpo_over_bare_best"] > 0 and [r["label"] for r in section["hpo"]] == ["first", "steady"]
    for worker in ("first_worker", "second_worker"):
        assert len(report["warm_up"][worker]["trial_wall_seconds"]) == 2
        assert report["warm_up"][worker]["first_over_steady"] > 0
    for workers in (1, 2):
        run = report["per_gpu"][f"per_gpu={workers}"]
        assert run["trials_ended"] == 4 and run["failed"] == 0 and run["trials_per_hour"] > 0
        assert run["supervisor_report"][0].startswith("4 trials ended in ")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gpu_profile on cpu (smoke): ")
    assert any(line.startswith("hpo steady / bare best (target >= 1.0)") for line in lines)
    assert lines[-1] == f"wrote {output}"
