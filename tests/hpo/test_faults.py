"""Damage done for real: a worker killed with SIGKILL mid-trial, database connections cut mid-study, a
damaged or unwritable disk cache, run folders of killed workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from tests.cache_faults import read_only
from tests.conftest import POSTGRES_URL
from tests.helpers import hpo, load_study, retrieval_config, write_config

__all__ = ["read_only"]  # a fixture


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


# --- The shared disk cache and run folders: damaged entries, an unwritable cache, folders of killed workers ---


def _orphan_run_folder(parent: Path) -> Path:
    """An ``hpo-run-*`` folder left by a process killed with SIGKILL while it trained, made to look old enough."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom hpo.training.run_folder import run_folder\n"
        "with run_folder(Path(sys.argv[1])) as folder:\n    print(folder, flush=True)\n    time.sleep(600)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(parent)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    folder = Path(process.stdout.readline().strip())
    process.send_signal(signal.SIGKILL)
    process.wait()
    old = time.time() - 60
    os.utime(folder / ".owner.lock", (old, old))
    return folder


def test_run_folders_of_killed_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    from hpo.training.run_folder import run_folder

    orphan = _orphan_run_folder(tmp_path)
    with run_folder(tmp_path) as live:
        old = time.time() - 60
        os.utime(Path(live) / ".owner.lock", (old, old))  # old enough, but its process holds the lock
        assert not orphan.exists()
        code = "import sys\nfrom pathlib import Path\nfrom hpo.training.run_folder import remove_orphans\n"
        code += "print(len(remove_orphans(Path(sys.argv[1]))))"
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert other.stdout.strip() == "0" and Path(live).is_dir()  # another process leaves a live folder alone
    foreign = tmp_path / "hpo-run-made-by-something-else"  # no lock file: not known to be ours, left alone
    foreign.mkdir()
    with run_folder(tmp_path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [foreign.name]


def _cache_study(tmp_path: Path, tiny_model: str, n_trials: int) -> str:
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": n_trials}, pruner={"type": "none"})
    raw["search_space"]["hard_negatives"] = {"miner": "bm25", "num_negatives": 1, "range_max": 20}
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    return storage


def _cache_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "disk-cache entry" in line or "disk cache" in line]


def test_damaged_cache_entries_of_every_kind_are_rebuilt_and_the_trials_complete(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker fills the cache; its entries are damaged; the next worker sets each aside with one warning."""
    from tests.cache_faults import overwrite_json, truncate

    cache, scratch = tmp_path / "cache", tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("HPO_CACHE", str(cache))
    monkeypatch.setenv("TMPDIR", str(scratch))
    storage = _cache_study(tmp_path, tiny_model, n_trials=2)
    first = hpo("worker", "--study", "tiny-retrieval", "--n-trials", "1", storage=storage)
    assert first.returncode == 0, first.stderr[-2000:]
    assert _cache_warnings(first.stderr) == []
    [table] = [p for p in (cache / "token_table").iterdir() if p.is_dir()]
    [capped] = [p for p in (cache / "capped_corpus_ids").iterdir() if p.is_dir()]
    [mined] = (cache / "mined").glob("*.json")
    truncate(table / "tokens.npz")
    overwrite_json(capped / "value.json")
    overwrite_json(mined)
    orphan = _orphan_run_folder(scratch)

    second = hpo("worker", "--study", "tiny-retrieval", storage=storage)
    assert second.returncode == 0, second.stderr[-2000:]
    warnings = _cache_warnings(second.stderr)
    assert len(warnings) == 3, warnings
    for damaged in (table / "tokens.npz", capped / "value.json", mined):
        assert sum(f"damaged disk-cache entry {damaged}: " in line for line in warnings) == 1, warnings
    assert not orphan.exists() and not list(scratch.glob("hpo-run-*"))  # removed, and its own gone too
    assert [t.state.name for t in _trials(storage)] == ["COMPLETE"] * 2


def test_a_read_only_cache_costs_one_warning_and_the_trials_complete(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch, read_only: Callable[[Path], None]
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    read_only(cache)
    monkeypatch.setenv("HPO_CACHE", str(cache))
    storage = _cache_study(tmp_path, tiny_model, n_trials=1)
    worker = hpo("worker", "--study", "tiny-retrieval", storage=storage)
    assert worker.returncode == 0, worker.stderr[-2000:]
    [warning] = _cache_warnings(worker.stderr)
    assert f"disk cache {cache} cannot be written (" in warning and "not used by this process" in warning
    assert [t.state.name for t in _trials(storage)] == ["COMPLETE"]
