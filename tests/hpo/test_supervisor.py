"""`--gpus`: supervised child workers, signal forwarding, clean stop with no trial left RUNNING."""

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


def _study_states(storage: str) -> list[str]:
    study = optuna.load_study(study_name="tiny-retrieval", storage=open_storage(storage))
    return [t.state.name for t in study.trials]


def test_gpus_parent_runs_a_child_per_gpu_and_reports_its_exit(tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 2}))
    assert hpo("create-study", "--config", str(config), storage=storage).returncode == 0
    result = hpo("worker", "--study", "tiny-retrieval", "--gpus", "0", storage=storage)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "GPU 0: worker pid" in result.stderr
    assert "exited with 0" in result.stderr
    assert "password" not in result.stderr
    assert sorted(_study_states(storage)).count("WAITING") == 0


def test_first_sigterm_finishes_the_running_trial_and_exits_0(tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 4})
    raw["search_space"]["epochs"] = 3  # long enough to be signalled mid-trial
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    env = {**os.environ, "HPO_STORAGE": storage}
    parent = subprocess.Popen(
        [sys.executable, "-m", "hpo", "worker", "--study", "tiny-retrieval", "--gpus", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while "RUNNING" not in _study_states(storage):
        assert time.monotonic() < deadline, "no trial started"
        time.sleep(0.5)
    parent.send_signal(signal.SIGTERM)
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 0, err[-2000:]
    assert "SIGTERM received: finishing the current trial, then stopping" in err
    assert "stopped: stop signal" in out
    states = _study_states(storage)
    assert "RUNNING" not in states
    assert states.count("COMPLETE") + states.count("PRUNED") == 1
    assert states.count("WAITING") == 3  # the rest of the budget waits for the next worker


def _long_trial_worker(tmp_path: Path, tiny_model: str, *worker_args: str) -> tuple[subprocess.Popen[str], str]:
    """A worker process whose first trial is RUNNING (and long), and the storage URL."""
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 2})
    raw["search_space"]["epochs"] = 20  # far longer than the tests wait
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    env = {**os.environ, "HPO_STORAGE": storage}
    command = [sys.executable, "-m", "hpo", "worker", "--study", "tiny-retrieval", *worker_args]
    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while "RUNNING" not in _study_states(storage):
        assert time.monotonic() < deadline, "no trial started"
        time.sleep(0.5)
    return worker, storage


def test_second_signal_abandons_the_trial_and_requeues_it(tmp_path: Path, tiny_model: str) -> None:
    worker, storage = _long_trial_worker(tmp_path, tiny_model)
    worker.send_signal(signal.SIGINT)
    time.sleep(1)
    worker.send_signal(signal.SIGINT)
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 130
    assert err.endswith("error: SIGINT received twice: abandoned the running trial (it will be re-run)\n")
    study = optuna.load_study(study_name="tiny-retrieval", storage=open_storage(storage))
    assert [t.state.name for t in study.trials] == ["FAIL", "WAITING", "WAITING"]
    assert study.trials[0].user_attrs["fail_reason"] == "abandoned: SIGINT received twice"


def test_stop_grace_abandons_a_long_trial(tmp_path: Path, tiny_model: str) -> None:
    worker, storage = _long_trial_worker(tmp_path, tiny_model, "--stop-grace", "1")
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130
    assert err.endswith("error: the stop grace of 1 s passed: abandoned the running trial (it will be re-run)\n")
    study = optuna.load_study(study_name="tiny-retrieval", storage=open_storage(storage))
    assert study.trials[0].user_attrs["fail_reason"] == "abandoned: the stop grace of 1 s passed"
    assert [t.state.name for t in study.trials] == ["FAIL", "WAITING", "WAITING"]


def test_crashed_child_is_restarted_up_to_the_limit(tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 3})
    raw["search_space"]["loss"] = {"CachedMultipleNegativesRankingLoss": {"mini_batch_size": 0}}  # always fails
    raw["fault_tolerance"] = {"max_consecutive_failures": 1}
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    result = hpo("worker", "--study", "tiny-retrieval", "--gpus", "0", "--max-restarts", "1", storage=storage)
    assert result.returncode == 1
    assert result.stderr.count("exited with 1") == 2
    assert "GPU 0: restarting its worker (1 of 1)" in result.stderr
    assert _study_states(storage).count("FAIL") == 2
