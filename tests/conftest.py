"""Shared fixtures: offline Hub, the tiny model, config files, and a throwaway Postgres database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# Without this a Hub id hangs for about a minute before failing on machines with no Hub access.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
POSTGRES_URL = os.environ.get("HPO_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a tiny BERT sentence-transformer built for this test session."""
    from tests.tiny_model import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("model")))


def retrieval_config(model: str, **overrides: Any) -> dict[str, Any]:
    """A small, fast retrieval study on the built-in demo data."""
    config: dict[str, Any] = {
        "study_name": "tiny-retrieval",
        "objective": "retrieval",
        "data": {
            "train": {"builtin": "stdlib-docstrings"},
            "columns": {"query_id": "query_id"},
            "max_train_samples": 96,
        },
        "search_space": {
            "model": model,
            "loss": {"MultipleNegativesRankingLoss": {"scale": {"type": "float", "low": 10.0, "high": 30.0}}},
            "learning_rate": {"type": "float", "low": 1.0e-5, "high": 1.0e-2, "log": True},
            "batch_size": 16,
            "epochs": 1,
            "max_seq_length": 48,
        },
        "evaluation": {"every_samples": 32, "corpus_cap": 60},
        "sampler": {"type": "random"},
        "pruner": {"type": "percentile", "percentile": 99.0, "n_startup_trials": 1},
        "budget": {"n_trials": 4},
    }
    config.update(overrides)
    return config


def write_config(directory: Path, config: dict[str, Any], name: str = "study.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh Postgres database for one test, dropped afterwards.

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
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> str:
    """Storage URL of a SQLite study with complete and pruned trials (tiny model), run once per session."""
    from click.testing import CliRunner

    from hpo.cli import cli
    from tests.hpo.test_worker import seed_one_good_trial

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
