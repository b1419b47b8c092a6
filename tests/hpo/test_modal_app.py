"""Modal workers without network or token: the app is built from the settings, and the worker
function's ``.local()`` runs real trials, stops as Modal's preemption asks, and reports config errors.
Never set a fake token here: the client then waits a minute."""

from __future__ import annotations

import importlib.metadata
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from hpo.errors import UsageError
from hpo.store.storage import StorageUrl, open_storage
from tests.helpers import invoke, retrieval_config, write_config

modal = pytest.importorskip("modal", reason="the [modal] extra is not installed")

pytestmark = pytest.mark.filterwarnings("ignore:The worker function is executing locally:UserWarning")


def test_app_is_built_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hpo.cloud import modal_app
    from hpo.cloud.modal_app import ModalSettings

    recorded: dict[str, Any] = {"pip": [], "env": {}, "files": []}
    function, pip_install, env = modal.App.function, modal.Image.pip_install, modal.Image.env
    add_local_file = modal.Image.add_local_file

    def record_function(self: Any, **kwargs: Any) -> Any:
        recorded.update(kwargs)
        return function(self, **kwargs)

    def record_pip(self: Any, *packages: str, **kwargs: Any) -> Any:
        recorded["pip"].extend(packages)
        return pip_install(self, *packages, **kwargs)

    def record_env(self: Any, values: dict[str, str]) -> Any:
        recorded["env"].update(values)
        return env(self, values)

    def record_file(self: Any, local: str, remote: str, **kwargs: Any) -> Any:
        recorded["files"].append((local, remote))
        return add_local_file(self, local, remote, **kwargs)

    monkeypatch.setattr(modal.App, "function", record_function)
    monkeypatch.setattr(modal.Image, "pip_install", record_pip)
    monkeypatch.setattr(modal.Image, "env", record_env)
    monkeypatch.setattr(modal.Image, "add_local_file", record_file)
    train = tmp_path / "train.jsonl"
    train.write_text("{}\n")
    settings = ModalSettings(gpu="H100", timeout=7200, retries=5, cpu=8.0, memory=32768, carry=(str(train),))
    worker = modal_app.build_worker(settings)

    assert worker.app.name == "hpo"
    assert (recorded["gpu"], recorded["cpu"], recorded["memory"], recorded["timeout"]) == ("H100", 8.0, 32768, 7200)
    assert recorded["retries"].max_retries == 5
    assert recorded["secrets"] == [worker.secret] and recorded["volumes"] == {"/cache": worker.volume}
    assert worker.function._spec_.gpus == "H100"
    assert recorded["pip"][0] == "torch==2.13.0"
    assert [p for p in recorded["pip"] if p.startswith("torch")] == ["torch==2.13.0"]
    assert not any("extra" in p or p.startswith(("modal", "pytest")) for p in recorded["pip"])
    assert not any(p.startswith(("plotly", "matplotlib")) for p in recorded["pip"])  # reports only
    assert {"HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TQDM_DISABLE"} <= set(recorded["env"])
    assert recorded["env"]["HF_HOME"] == "/cache/huggingface"
    assert recorded["files"] == [(str(train), str(train))]  # the study's path, as the stored config names it


def test_image_requirements_come_from_the_installed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.cloud.modal_app import image_requirements

    requires = [
        "torch>=2.4",
        'numpy<3; python_version < "3.12"',
        'modal<2,>=1.6; extra == "modal"',
        "optuna<6,>=5",
        "plotly>=5.20,<8",
        "matplotlib>=3.8,<4",
    ]
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: requires if name == "hpo" else None)
    assert image_requirements() == ["torch==2.13.0", 'numpy<3; python_version < "3.12"', "optuna<6,>=5"]

    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", missing)
    with pytest.raises(UsageError) as error:
        image_requirements()
    assert str(error.value) == (
        "hpo is not installed as a package, so its dependencies are unknown: pip install -e '.[modal]'"
    )


def _create(storage: str, tmp_path: Path, tiny_model: str, n_trials: int) -> None:
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": n_trials}))
    assert invoke("create-study", "--config", str(config), "--storage", storage).exit_code == 0


def _local(
    storage: str, monkeypatch: pytest.MonkeyPatch, study: str = "tiny-retrieval", **arguments: Any
) -> dict[str, Any]:
    """The container's function run here, as Modal calls it (no GPU asked for unless ``gpu`` is given)."""
    from hpo.cloud.modal_app import ModalSettings, build_worker

    monkeypatch.setenv("HPO_STORAGE", storage)  # what the modal.Secret provides in a container
    function = build_worker(ModalSettings()).function
    result: dict[str, Any] = function.local(study, StorageUrl.parse(storage).redacted, **arguments)
    return result


def test_worker_function_runs_locally(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch, storage_url: str
) -> None:
    _create(storage_url, tmp_path, tiny_model, n_trials=2)
    result = _local(storage_url, monkeypatch)
    assert sum(result["states"].values()) == 2
    assert (result["stopped_because"], result["error"]) == ("study budget done", None)


def _signal_after_each_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Modal's preemption signal, landing between two trials."""
    from hpo.workers import worker
    from hpo.workers.trial import run_trial as real

    def run_then_signal(ctx: Any, trial_id: int) -> str:
        state = real(ctx, trial_id)
        signal.raise_signal(signal.SIGINT)
        return state

    monkeypatch.setattr(worker, "run_trial", run_then_signal)


def _signalled_study(tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch, n_trials: int) -> str:
    """A study of ``n_trials`` whose worker gets a stop signal right after each trial."""
    storage = f"sqlite:///{tmp_path}/s.db"
    _create(storage, tmp_path, tiny_model, n_trials=n_trials)
    _signal_after_each_trial(monkeypatch)
    return storage


def test_stop_signal_between_trials_with_budget_left_raises_keyboard_interrupt(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not an Exception: Modal records an Exception as a failure that spends a --retries attempt;
    an input left without an output by KeyboardInterrupt is restarted as a preemption."""
    storage = _signalled_study(tmp_path, tiny_model, monkeypatch, n_trials=2)
    with pytest.raises(KeyboardInterrupt) as stopped:
        _local(storage, monkeypatch)
    assert not isinstance(stopped.value, Exception)
    assert str(stopped.value) == "stop signal with trials of study 'tiny-retrieval' left (1 waiting or running)"
    assert caplog.records[-1].getMessage() == (
        "stop signal with trials of study 'tiny-retrieval' left (1 waiting or running); leaving this input "
        "unfinished, so that Modal runs it again (a preemption restart, not a --retries attempt)"
    )
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_stop_signal_after_the_last_trial_returns_normally(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _signalled_study(tmp_path, tiny_model, monkeypatch, n_trials=1)
    result = _local(storage, monkeypatch)
    assert (result["states"], result["stopped_because"], result["error"]) == ({"COMPLETE": 1}, "stop signal", None)


def test_trial_still_running_after_the_stop_grace_is_abandoned_and_raises(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpo.cloud import container
    from hpo.workers import worker

    assert container.STOP_GRACE_SECONDS < 30  # Modal kills the container 30 s after its SIGINT
    storage = f"sqlite:///{tmp_path}/s.db"
    _create(storage, tmp_path, tiny_model, n_trials=2)
    monkeypatch.setattr(container, "STOP_GRACE_SECONDS", 0.2)

    def preempted_mid_trial(ctx: Any, trial_id: int) -> str:
        signal.raise_signal(signal.SIGINT)
        time.sleep(30)  # a long trial: the grace ends it
        return "COMPLETE"

    monkeypatch.setattr(worker, "run_trial", preempted_mid_trial)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as stopped:
        _local(storage, monkeypatch)
    assert time.monotonic() - started < 20
    assert isinstance(stopped.value, container.ContainerStopped)
    assert str(stopped.value) == "stopped (the stop grace of 0.2 s passed) with trials of study 'tiny-retrieval' left"


def test_config_errors_are_returned_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    open_storage(StorageUrl.parse(storage), create=True)
    result = _local(storage, monkeypatch, study="nope")
    assert result == {"states": {}, "stopped_because": "", "error": f"study 'nope' not found in {storage}"}


def test_secret_naming_another_database_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.cloud.modal_app import ModalSettings, build_worker

    monkeypatch.setenv("HPO_STORAGE", f"sqlite:///{tmp_path}/other.db")
    checked = "postgresql+psycopg2://hpo:***@db.example.com:5432/hpo"
    result = build_worker(ModalSettings()).function.local("s", checked)
    assert result["error"] == (
        f"the Modal secret's HPO_STORAGE is 'sqlite:///{tmp_path}/other.db', but the study was checked on "
        f"'{checked}'; point both at the same database "
        "(modal secret create --force hpo-storage --from-dotenv FILE, with HPO_STORAGE=... in FILE)"
    )
