"""How long creating a study takes for a budget of N trials, on SQLite and Postgres.

    python benchmarks/create_study.py [--trials 1000 10000 100000] [--storages sqlite postgres]
        [--per-trial] [--cli] [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432/test]

Times the storage step of ``hpo create-study`` (``hpo.store.study.create_study``: the study, its
attributes, the queued budget and the complete mark) in this process, on a fresh SQLite file and a
fresh Postgres database (created on the server ``--postgres`` names, dropped afterwards).

``--per-trial`` times instead what create-study did before bulk queueing: Optuna's
``enqueue_trial`` for each trial of the budget, one transaction each. ``--cli`` also times the
whole ``hpo create-study`` command (config, model and data checks included) for the largest budget.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import sqlalchemy
import yaml

from hpo.store.config_file import parse_config
from hpo.store.storage import StorageUrl, open_storage
from hpo.store.study import create_study, queued_trials

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_storage(kind: str, folder: Path, postgres: str) -> Iterator[str]:
    """The URL of an empty SQLite file or Postgres database, removed afterwards."""
    if kind == "sqlite":
        path = folder / f"{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    admin = sqlalchemy.create_engine(postgres, isolation_level="AUTOCOMMIT")
    name = f"hpo_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def study_config(model: str, trials: int) -> dict[str, object]:
    from hpo.training.testing import tiny_study_config

    return tiny_study_config(model, budget={"n_trials": trials})


def time_store_step(url: str, raw: dict[str, object], per_trial: bool) -> float:
    """Seconds to create the study and queue its budget (the schema is created before the clock starts)."""
    config = parse_config(raw, source="benchmark")
    storage = open_storage(StorageUrl.parse(url), create=True)
    started = time.perf_counter()
    if per_trial:  # what create-study did before: one transaction per queued trial
        study = optuna.create_study(study_name=config.study_name, storage=storage.backend)
        for params, marks in queued_trials(config):
            study.enqueue_trial(params, user_attrs=marks)
    else:
        create_study(config, "sha256:bench", {"train": 0}, storage)
    seconds = time.perf_counter() - started
    study = optuna.load_study(study_name=config.study_name, storage=storage.backend)
    queued = storage.backend.get_n_trials(study._study_id, optuna.trial.TrialState.WAITING)
    assert queued == config.budget.n_trials, (queued, config.budget.n_trials)
    return seconds


def time_cli(url: str, raw: dict[str, object], folder: Path) -> float:
    """Seconds of the whole ``hpo create-study`` command, process start included."""
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hpo", "create-study", "--config", str(path), "--storage", url],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--storages", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--per-trial", action="store_true", help="Time Optuna's enqueue_trial per trial (before).")
    parser.add_argument("--cli", action="store_true", help="Also time the whole command for the largest budget.")
    parser.add_argument("--postgres", default=POSTGRES, help="A Postgres server URL (a database is created on it).")
    args = parser.parse_args()
    from hpo.training.testing import build_tiny_model

    how = "enqueue_trial per trial" if args.per_trial else "create_study (bulk)"
    print(f"| storage | trials | {how} | trials/s |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = str(build_tiny_model(folder / "model"))
        for kind in args.storages:
            for trials in args.trials:
                with fresh_storage(kind, folder, args.postgres) as url:
                    seconds = time_store_step(url, study_config(model, trials), args.per_trial)
                print(f"| {kind} | {trials:,} | {seconds:.2f} s | {trials / seconds:,.0f} |", flush=True)
            if args.cli:
                trials = max(args.trials)
                with fresh_storage(kind, folder, args.postgres) as url:
                    seconds = time_cli(url, study_config(model, trials), folder)
                print(f"| {kind} | {trials:,} | whole `hpo create-study`: {seconds:.1f} s | |", flush=True)


if __name__ == "__main__":
    main()
