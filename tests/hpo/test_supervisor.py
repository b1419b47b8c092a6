"""`--gpus` and `--workers`: supervised child workers, signal forwarding, clean stop with no trial left RUNNING."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo.errors import UsageError
from tests.helpers import doomed_model, hpo, load_study, retrieval_config, write_config


def _study_states(storage: str) -> list[str]:
    study = load_study(storage)
    return [t.state.name for t in study.trials]


def test_parent_runs_its_children_and_reports_their_exit(tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 2}))
    assert hpo("create-study", "--config", str(config), storage=storage).returncode == 0
    result = hpo("worker", "--study", "tiny-retrieval", "--workers", "1", storage=storage)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "worker 1: worker pid" in result.stderr
    assert "exited with 0" in result.stderr
    assert "password" not in result.stderr
    assert sorted(_study_states(storage)).count("WAITING") == 0
    assert re.search(r"^2 trials ended in \d+ s with 1 worker: \d+ trials/hour$", result.stdout, re.MULTILINE)


def test_first_sigterm_finishes_the_running_trial_and_exits_0(tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 4})
    raw["search_space"]["epochs"] = 3  # long enough to be signalled mid-trial
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    env = {**os.environ, "HPO_STORAGE": storage}
    parent = subprocess.Popen(
        [sys.executable, "-m", "hpo", "worker", "--study", "tiny-retrieval", "--workers", "1"],
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
    study = load_study(storage)
    assert [t.state.name for t in study.trials] == ["FAIL", "WAITING", "WAITING"]
    assert study.trials[0].user_attrs["fail_reason"] == "abandoned: SIGINT received twice"
    # The abandoned trial is run again as it was: the same params, in the replacement queued for it.
    replacement = study.trials[2]
    assert replacement.user_attrs["replaces_trial"] == 0
    assert replacement.system_attrs["fixed_params"] == study.trials[0].params


def test_stop_grace_abandons_a_long_trial(tmp_path: Path, tiny_model: str) -> None:
    worker, storage = _long_trial_worker(tmp_path, tiny_model, "--stop-grace", "1")
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130
    assert err.endswith("error: the stop grace of 1 s passed: abandoned the running trial (it will be re-run)\n")
    study = load_study(storage)
    assert study.trials[0].user_attrs["fail_reason"] == "abandoned: the stop grace of 1 s passed"
    assert [t.state.name for t in study.trials] == ["FAIL", "WAITING", "WAITING"]


def test_crashed_child_is_restarted_up_to_the_limit(tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    model = doomed_model(tiny_model, tmp_path)
    raw = retrieval_config(model, budget={"n_trials": 3})
    raw["fault_tolerance"] = {"max_consecutive_failures": 1}
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    shutil.rmtree(model)  # every trial fails
    result = hpo("worker", "--study", "tiny-retrieval", "--workers", "1", "--max-restarts", "1", storage=storage)
    assert result.returncode == 1
    assert result.stderr.count("exited with 1") == 2
    assert "worker 1: restarting its worker (1 of 1)" in result.stderr
    assert _study_states(storage).count("FAIL") == 2


def test_gpu_indices_are_checked_against_the_visible_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.workers import supervisor

    monkeypatch.setattr(supervisor, "_gpu_count", lambda: 2)
    assert [(s.label, s.env) for s in supervisor.gpu_slots("1", per_gpu=2)] == [
        ("GPU 1 #1", {"CUDA_VISIBLE_DEVICES": "1", "HPO_DEVICE_SHARE": "0.5"}),
        ("GPU 1 #2", {"CUDA_VISIBLE_DEVICES": "1", "HPO_DEVICE_SHARE": "0.5"}),
    ]
    assert [s.env for s in supervisor.local_slots(4)] == [{"HPO_DEVICE_SHARE": "0.25"}] * 4
    assert [s.label for s in supervisor.gpu_slots("all")] == ["GPU 0", "GPU 1"]
    with pytest.raises(UsageError) as info:
        supervisor.gpu_slots("0,2")
    assert str(info.value) == (
        "--gpus '0,2': GPU 2 is not visible on this machine (visible GPUs: 2 (0, 1)); without a GPU, use --workers N"
    )
    monkeypatch.setattr(supervisor, "_gpu_count", lambda: 0)
    with pytest.raises(UsageError, match=r"visible GPUs: none\); without a GPU, use --workers N$"):
        supervisor.gpu_slots("0")


@pytest.mark.postgres
def test_children_get_the_url_in_their_environment_and_the_parent_s_output_flags(
    tmp_path: Path, tiny_model: str, postgres_url: str
) -> None:
    secret = "s3cret-pw"  # the server trusts local connections: any password works, none may show
    url = postgres_url.replace("postgres@", f"postgres:{secret}@")
    raw = retrieval_config(tiny_model, budget={"n_trials": 2})
    raw["search_space"]["epochs"] = 20  # long enough to look at the child
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=url).returncode == 0
    parent = subprocess.Popen(
        [sys.executable, "-m", "hpo", "--log-level", "DEBUG", "worker", "--study", "tiny-retrieval", "--workers", "1"],
        env={**os.environ, "HPO_STORAGE": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (children := _children(parent.pid)) or "RUNNING" not in _study_states(url):
        assert time.monotonic() < deadline, "no child trial started"
        time.sleep(0.5)
    argv = Path(f"/proc/{children[0]}/cmdline").read_bytes().split(b"\0")
    environ = Path(f"/proc/{children[0]}/environ").read_bytes().split(b"\0")
    parent.send_signal(signal.SIGINT)
    time.sleep(1)  # two signals sent at once can reach the child as one
    parent.send_signal(signal.SIGINT)
    out, err = parent.communicate(timeout=120)
    assert b"--log-level" in argv and argv[argv.index(b"--log-level") + 1] == b"DEBUG"
    assert not any(secret.encode() in arg for arg in argv)
    assert f"HPO_STORAGE={url}".encode() in environ
    assert secret not in out + err and "DEBUG" in err


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
