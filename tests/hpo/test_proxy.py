"""Workers through Optuna's gRPC storage proxy: the budget is shared, and a killed worker's trial
is still failed and re-run (heartbeats travel as trial attributes through the proxy)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from hpo.training.testing import wait_for_port
from tests.helpers import free_port, hpo, invoke, listening_addresses, load_study, retrieval_config, write_config


@pytest.fixture
def proxy_url(postgres_url: str) -> Iterator[str]:
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "hpo", "storage-proxy", "--storage", postgres_url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, proxy)
    try:
        yield f"grpc://127.0.0.1:{port}"
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


@pytest.mark.postgres
def test_proxy_binds_localhost_by_default(proxy_url: str) -> None:
    assert listening_addresses(int(proxy_url.rsplit(":", 1)[1])) == {"127.0.0.1"}


@pytest.mark.postgres
def test_workers_through_the_proxy_survive_a_killed_worker(tmp_path: Path, tiny_model: str, proxy_url: str) -> None:
    raw = retrieval_config(tiny_model, budget={"n_trials": 3}, pruner={"type": "none"})
    raw["search_space"]["epochs"] = 4
    raw["fault_tolerance"] = {"heartbeat_interval": 1, "grace_period": 3}
    created = hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=proxy_url)
    assert created.returncode == 0, created.stderr[-2000:]
    env = {**os.environ, "HPO_STORAGE": proxy_url}
    command = [sys.executable, "-m", "hpo", "worker", "--study", "tiny-retrieval"]
    doomed = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def trials() -> list[optuna.trial.FrozenTrial]:
        return load_study(proxy_url).trials

    deadline = time.monotonic() + 120
    while not any(t.state.name == "RUNNING" and t.intermediate_values for t in trials()):
        assert time.monotonic() < deadline, "no trial reported in time"
        time.sleep(0.3)
    killed = next(t for t in trials() if t.state.name == "RUNNING")
    assert "hpo_heartbeat" in killed.system_attrs
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    survivor = hpo("worker", "--study", "tiny-retrieval", storage=proxy_url)
    assert survivor.returncode == 0, survivor.stderr[-2000:]
    final = trials()
    assert [t.state.name for t in final].count("COMPLETE") == 3
    assert final[killed.number].user_attrs["fail_reason"].startswith("no heartbeat for over 3 s")
    assert {t.state.name for t in final} == {"COMPLETE", "FAIL"}


def test_proxy_url_needs_host_and_port() -> None:
    result = invoke("status", "--study", "s", "--storage", "grpc://proxyhost")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: storage URL 'grpc://proxyhost': give the proxy as grpc://HOST:PORT\n",
    )
