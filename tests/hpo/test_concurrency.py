"""Many processes at once: on an empty database (schema creation race) and on one study."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import hpo, load_study, retrieval_config, run_workers, write_config


@pytest.mark.postgres
def test_many_processes_create_the_schema_at_once(postgres_url: str) -> None:
    env = {**os.environ, "HPO_STORAGE": postgres_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "hpo", "studies"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        assert out.startswith("study")


@pytest.mark.postgres
def test_many_workers_on_one_study_run_the_exact_budget(tmp_path: Path, tiny_model: str, postgres_url: str) -> None:
    budget = 8
    raw = retrieval_config(tiny_model, budget={"n_trials": budget}, pruner={"type": "none"})
    raw["data"]["max_train_samples"] = 48
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=postgres_url).returncode == 0
    results = run_workers(postgres_url, 5)
    for code, _, err in results:
        assert code == 0, err[-2000:]
        assert "Traceback" not in err and "already finished" not in err
    outputs = [(out, err) for _, out, err in results]
    ran = sum(int(out.split("ran ")[1].split(" trials")[0]) for out, _ in outputs)
    study = load_study(postgres_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * budget
    assert ran == budget
    assert sorted(t.number for t in study.trials) == list(range(budget))


@pytest.mark.postgres
def test_password_never_printed_even_with_debug(postgres_url: str) -> None:
    bad = postgres_url.replace("postgres@", "postgres:hunter2-secret@").rsplit("/", 1)[0] + "/no_such_database"
    for args in (["studies"], ["--debug", "studies"], ["--debug", "status", "--study", "x"]):
        result = hpo(*args, storage=bad, timeout=120)
        assert result.returncode != 0
        assert "hunter2-secret" not in result.stderr + result.stdout
