from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna

from hpo.errors import StudyError
from hpo.store.config_file import parse_config
from hpo.store.storage import StorageUrl, open_storage
from hpo.store.study import build_sampler, load_stored_study
from tests.helpers import invoke, jsonl, retrieval_config, retrieval_rows, write_config


def _first_draw(trial_number: int, seed: int = 42) -> float:
    config = parse_config({**retrieval_config("some/model"), "seed": seed}, source="x")
    study = optuna.create_study(sampler=build_sampler(config, trial_number))
    return study.ask().suggest_float("x", 0.0, 1.0)


def test_a_trial_draws_the_same_params_whichever_worker_runs_it() -> None:
    assert _first_draw(3) == _first_draw(3)
    assert _first_draw(3) != _first_draw(4)  # concurrent workers run different numbers
    assert _first_draw(3, seed=7) != _first_draw(3)


def _create(tmp_path: Path, storage: str, name: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "hpo", "create-study", "--config", str(tmp_path / "study.yaml"), "--name", name]
    env = {**os.environ, "HPO_STORAGE": storage}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_create_study_killed_at_random_moments_never_leaves_a_study_a_worker_would_run(
    tmp_path: Path, tiny_model: str
) -> None:
    budget = 20000  # queued in bulk: a few batches, long enough for kills to land between them
    raw = retrieval_config(tiny_model, budget={"n_trials": budget})
    raw["data"] = {"train": {"path": jsonl(tmp_path / "train.jsonl", retrieval_rows(120))}}
    write_config(tmp_path, raw)
    storage = f"sqlite:///{tmp_path}/study.db"
    started = time.monotonic()
    reference = _create(tmp_path, storage, "reference")
    first_write = marked = None
    while reference.poll() is None and marked is None:  # when does the study appear, and when is it complete?
        seen = _progress(tmp_path / "study.db", "reference")
        if first_write is None and seen:
            first_write = time.monotonic() - started
        if seen == "complete":
            marked = time.monotonic() - started
        time.sleep(0.02)
    assert reference.wait() == 0 and first_write is not None and marked is not None
    rng = random.Random(20)
    outcomes = []
    for pair in range(10):  # two at a time: 20 kills, at 20 random moments
        victims = [_create(tmp_path, storage, f"killed-{2 * pair + i}") for i in range(2)]
        moments = sorted(rng.uniform(max(0.0, first_write - 0.3), marked) for _ in victims)  # mostly while queueing
        begun = time.monotonic()
        for victim, moment in zip(victims, moments, strict=True):
            time.sleep(max(0.0, moment - (time.monotonic() - begun)))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        outcomes += [_outcome(storage, f"killed-{2 * pair + i}", budget) for i in range(2)]
    assert set(outcomes) <= {"absent", "half-created", "complete"}
    assert "half-created" in outcomes  # the kills did land while the budget was being queued
    half = outcomes.index("half-created")
    refused = invoke("worker", "--study", f"killed-{half}", "--storage", storage)
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"error: study 'killed-{half}' is half-created (its create-study was interrupted); "
        "run the same create-study again to finish it\n",
    )
    again = invoke(
        "create-study", "--config", str(tmp_path / "study.yaml"), "--name", f"killed-{half}", "--storage", storage
    )
    assert again.exit_code == 0, again.stderr
    assert _outcome(storage, f"killed-{half}", budget) == "complete"


def _progress(database: Path, name: str) -> str | None:
    """None before the study exists, 'complete' once it is marked, else 'written'."""
    query = (
        "SELECT s.study_id, (SELECT count(*) FROM study_user_attributes a WHERE a.study_id = s.study_id "
        "AND a.key = 'hpo_complete') FROM studies s WHERE s.study_name = ?"
    )
    try:
        with contextlib.closing(sqlite3.connect(database)) as connection:
            row = connection.execute(query, (name,)).fetchone()
    except sqlite3.Error:  # no file or no tables yet, or busy
        return None
    return None if row is None else "complete" if row[1] else "written"


def _outcome(storage: str, name: str, budget: int) -> str:
    """What a worker would find: no study, a half-created one it refuses, or the whole budget queued."""
    store = open_storage(StorageUrl.parse(storage))
    if name not in store.study_names():
        return "absent"
    try:
        load_stored_study(store, name)
    except StudyError as error:
        assert "is half-created" in str(error)
        return "half-created"
    study_id = store.backend.get_study_id_from_name(name)
    waiting = store.backend.get_n_trials(study_id, optuna.trial.TrialState.WAITING)
    assert waiting == store.backend.get_n_trials(study_id) == budget  # a study a worker runs has its whole budget
    return "complete"
