"""Modal workers without network or token: the app is built from the arguments, and the worker
function's ``.local()`` runs real trials. Never set a fake token here: the client then waits a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import retrieval_config, write_config
from tests.hpo.test_cli import invoke

modal = pytest.importorskip("modal", reason="the [modal] extra is not installed")


@pytest.fixture
def no_modal_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    from modal.config import config

    monkeypatch.setattr(config, "get", lambda key, profile=None, use_env=True: None)


def test_app_is_built_from_the_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo import modal_app

    recorded: dict[str, Any] = {}
    original = modal.App.function

    def record(self: modal.App, **kwargs: Any) -> Any:
        recorded.update(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(modal.App, "function", record)
    worker = modal_app.build_worker(modal_app.ModalSettings(gpu="H100", timeout=7200, retries=5))
    assert worker.app.name == "hpo"
    assert recorded["gpu"] == "H100" and recorded["timeout"] == 7200
    assert recorded["retries"].max_retries == 5
    assert recorded["secrets"] == [worker.secret] and recorded["volumes"] == {"/cache": worker.volume}
    assert worker.function._spec_.gpus == "H100"


def test_cli_arguments_reach_the_modal_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo import cloud, modal_app

    launched: dict[str, Any] = {}

    def fake_launch(worker: modal_app.ModalWorker, study: str, containers: int, *args: Any, **kwargs: Any) -> list[Any]:
        launched.update(settings=worker.settings, study=study, containers=containers, args=args)
        return []

    monkeypatch.setattr(modal_app, "launch", fake_launch)
    cloud.run_on_modal("postgresql+psycopg2://u:p@db.example.com/hpo", "s", 8, "A100", 3, 60.0, 3600, 2, True)
    assert launched["settings"] == modal_app.ModalSettings(gpu="A100", timeout=3600, retries=2)
    assert (launched["study"], launched["containers"], launched["args"]) == ("s", 8, (3, 60.0, True))


def _local_run(storage: str, tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.modal_app import ModalSettings, build_worker

    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 2}))
    assert invoke("create-study", "--config", str(config), "--storage", storage).exit_code == 0
    monkeypatch.setenv("HPO_STORAGE", storage)  # what the modal.Secret provides in a container
    worker = build_worker(ModalSettings())
    result = worker.function.local("tiny-retrieval")
    assert sum(result["states"].values()) == 2
    assert result["stopped_because"] == "study budget done"


def test_worker_function_runs_locally_on_sqlite(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _local_run(f"sqlite:///{tmp_path}/s.db", tmp_path, tiny_model, monkeypatch)


@pytest.mark.postgres
def test_worker_function_runs_locally_on_postgres(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    _local_run(postgres_url, tmp_path, tiny_model, monkeypatch)


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        (
            "sqlite:///hpo.db",
            "error: storage URL 'sqlite:///hpo.db' is a local SQLite file that a cloud container cannot reach; "
            "use a Postgres URL reachable from the internet (managed, or tunnelled)\n",
        ),
        (
            "postgresql+psycopg2://hpo:secret@localhost:5432/hpo",
            "error: storage host 'localhost' in 'postgresql+psycopg2://hpo:***@localhost:5432/hpo' is this machine, "
            "which a cloud container cannot reach; "
            "use a Postgres reachable from the internet (managed, or tunnelled)\n",
        ),
        (
            "postgresql+psycopg2://hpo:secret@db.example.com:5432/hpo",
            "error: no Modal token: run 'modal token new' (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)\n",
        ),
    ],
)
def test_launch_refuses_before_anything_starts(no_modal_token: None, storage: str, message: str) -> None:
    result = invoke("modal", "--study", "s", "--storage", storage, "--containers", "2")
    assert (result.exit_code, result.stderr) == (2, message)


def test_missing_modal_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "modal" else real(name, *a))
    result = invoke("modal", "--study", "s", "--storage", "postgresql+psycopg2://u:p@db.example.com/hpo")
    assert (result.exit_code, result.stderr) == (2, "error: Modal support is not installed: pip install 'hpo[modal]'\n")
