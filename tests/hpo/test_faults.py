"""Damage done for real: a worker killed with SIGKILL mid-trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna

from hpo.storage import open_storage
from tests.conftest import retrieval_config, write_config
from tests.hpo.test_worker import hpo


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="tiny-retrieval", storage=open_storage(storage)).trials


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
