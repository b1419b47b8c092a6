"""Shared fixtures: offline Hub, the tiny model, config files, and a throwaway Postgres database."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Without this a Hub id hangs for about a minute before failing on machines with no Hub access.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POSTGRES_URL = os.environ.get("HPO_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session", autouse=True)
def _disk_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Workers started by tests (in process or as children) share a disk cache of the session, never the user's."""
    os.environ["HPO_CACHE"] = str(tmp_path_factory.mktemp("hpo-cache"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a tiny BERT sentence-transformer built for this test session."""
    from hpo.training.testing import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("model")))


@contextlib.contextmanager
def _postgres_database() -> Iterator[str]:
    """A fresh Postgres database, dropped afterwards.

    In CI (CI=true) an unreachable server fails the test; elsewhere it skips.
    """
    import sqlalchemy

    admin = sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"hpo_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Postgres is required in CI and unreachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"Postgres not reachable at {POSTGRES_URL}")
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh Postgres database for one test (mark the test ``postgres``)."""
    with _postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test once on a SQLite file and once on a fresh Postgres database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/study.db"
        return
    with _postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> str:
    """Storage URL of a SQLite study with complete and pruned trials (tiny model), run once per session."""
    from click.testing import CliRunner

    from hpo.cli import cli
    from tests.helpers import retrieval_config, seed_one_good_trial, write_config

    directory = tmp_path_factory.mktemp("finished")
    url = f"sqlite:///{directory}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 4})
    raw["search_space"]["learning_rate"] = {"type": "float", "low": 1e-9, "high": 1e-8, "log": True}
    # One worker: trial 0 (good) and trial 1 complete as startup trials; 2 and 3 score below 0 and are pruned.
    raw["pruner"] = {"type": "percentile", "percentile": 99.0, "n_startup_trials": 2}
    runner = CliRunner()
    created = runner.invoke(cli, ["create-study", "--config", str(write_config(directory, raw)), "--storage", url])
    assert created.exit_code == 0, created.stderr
    seed_one_good_trial(url)
    ran = runner.invoke(cli, ["worker", "--study", "tiny-retrieval", "--storage", url])
    assert ran.exit_code == 0, ran.stderr
    return url
