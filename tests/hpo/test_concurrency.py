"""Many processes at once: on an empty database (schema creation race), on one study, creating one study."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import pytest
import sqlalchemy

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
    ran = sum(int(out.split("ran ")[1].split(" trial")[0]) for out, _ in outputs)  # "1 trial", "2 trials"
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


def _being_written(engine: sqlalchemy.Engine) -> bool:
    """Whether a create-study holds a lease on a study it has not marked complete yet."""
    query = (
        "SELECT count(*) FROM study_system_attributes WHERE key = 'hpo_creator' AND study_id NOT IN "
        "(SELECT study_id FROM study_user_attributes WHERE key = 'hpo_complete')"
    )
    try:
        with engine.connect() as connection:
            return bool(connection.execute(sqlalchemy.text(query)).scalar())
    except sqlalchemy.exc.DBAPIError:  # the schema is still being created
        return False


@contextlib.contextmanager
def _writes_held(storage: str, engine: sqlalchemy.Engine) -> Iterator[None]:
    """Every write to the study's trials waits while the block runs (reads go on)."""
    if storage.startswith("sqlite"):
        connection = sqlite3.connect(storage.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")  # the write lock: readers go on, writers wait
        try:
            yield
        finally:
            connection.rollback()
            connection.close()
        return
    with engine.connect() as held, held.begin():
        held.execute(sqlalchemy.text("LOCK TABLE trials IN EXCLUSIVE MODE"))
        yield


def test_two_create_study_runs_at_once_both_succeed(tmp_path: Path, tiny_model: str, storage_url: str) -> None:
    """The second run finds the study half-written: it waits for the writer instead of removing it."""
    budget = 2000
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": budget}))
    command = [sys.executable, "-m", "hpo", "create-study", "--config", str(config), "--load-if-exists"]
    env = {**os.environ, "HPO_STORAGE": storage_url}
    engine = sqlalchemy.create_engine(storage_url)
    runs = [subprocess.Popen(command, env=env, stdout=PIPE, stderr=PIPE, text=True) for _ in range(2)]
    deadline = time.monotonic() + 120
    while not _being_written(engine):
        assert time.monotonic() < deadline and all(r.poll() is None for r in runs), "no run started writing"
        time.sleep(0.01)
    with _writes_held(storage_url, engine):  # the writer stands still, its lease taken, its budget not queued
        time.sleep(6)  # time for the other run to start and find the study
    outputs = [r.communicate(timeout=300) for r in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-3000:]
        assert out == "tiny-retrieval\n" and "removing study" not in err
    assert sum("is being created by process" in err for _, err in outputs) == 1  # the other waited
    with engine.connect() as connection:
        numbers = connection.execute(sqlalchemy.text("SELECT number FROM trials WHERE state = 'WAITING'")).scalars()
        assert sorted(numbers) == list(range(budget))  # one budget, queued once
    engine.dispose()
