"""Damage done for real: a worker killed with SIGKILL mid-trial, database connections cut mid-study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import POSTGRES_URL
from tests.helpers import hpo, load_study, retrieval_config, write_config


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    return load_study(storage).trials


def test_killed_worker_trial_is_failed_requeued_and_the_budget_still_met(tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 3}, pruner={"type": "none"})
    raw["search_space"]["epochs"] = 4
    raw["fault_tolerance"] = {"heartbeat_interval": 1, "grace_period": 3, "max_retries": 2}
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    env = {**os.environ, "HPO_STORAGE": storage}
    command = [sys.executable, "-m", "hpo", "worker", "--study", "tiny-retrieval"]
    doomed = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(t.state.name == "RUNNING" and t.intermediate_values for t in _trials(storage)):
        assert time.monotonic() < deadline, "no trial reported in time"
        time.sleep(0.3)
    killed = next(t for t in _trials(storage) if t.state.name == "RUNNING")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()

    survivor = hpo("worker", "--study", "tiny-retrieval", storage=storage)
    assert survivor.returncode == 0, survivor.stderr[-2000:]
    trials = _trials(storage)
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 3 and "RUNNING" not in states and "WAITING" not in states
    failed = trials[killed.number]
    assert failed.state.name == "FAIL"
    assert failed.user_attrs["fail_reason"] == "no heartbeat for over 3 s: its worker was killed or lost; re-queued"
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state.name == "COMPLETE" and retry.params == killed.params


@pytest.mark.postgres
def test_workers_survive_cut_database_connections(tmp_path: Path, tiny_model: str, postgres_url: str) -> None:
    import sqlalchemy

    raw = retrieval_config(tiny_model, budget={"n_trials": 6}, pruner={"type": "none"})
    raw["search_space"]["epochs"] = 2
    raw["fault_tolerance"] = {"heartbeat_interval": 1, "grace_period": 20}
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=postgres_url).returncode == 0
    env = {**os.environ, "HPO_STORAGE": postgres_url}
    command = [sys.executable, "-m", "hpo", "worker", "--study", "tiny-retrieval"]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    database = postgres_url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    cuts = terminated = 0
    deadline = time.monotonic() + 240
    while cuts < 3 and time.monotonic() < deadline:
        time.sleep(2.5)
        if any(t.state.name == "RUNNING" for t in _trials(postgres_url)):
            with admin.connect() as conn:  # what a Postgres restart does to every open connection
                terminated += len(
                    conn.execute(
                        sqlalchemy.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid()"
                        ),
                        {"db": database},
                    ).fetchall()
                )
            cuts += 1
    admin.dispose()
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    assert cuts == 3 and terminated >= 3  # live worker connections were killed
    states = [t.state.name for t in _trials(postgres_url)]
    assert states == ["COMPLETE"] * 6  # nothing lost, nothing failed, nothing run twice
