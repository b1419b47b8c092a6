"""What a Modal container does with its limits, run here through the worker function's ``.local()``:
pricing by the GPU asked for, the per-trial and idle time limits, remote code consent, no CUDA,
storage errors no retry cures, and the secret check. No token, network or account."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hpo import attrs
from hpo.store.storage import StorageUrl, open_storage
from tests.helpers import invoke, retrieval_config, write_config

modal = pytest.importorskip("modal", reason="the [modal] extra is not installed")

pytestmark = pytest.mark.filterwarnings("ignore:The worker function is executing locally:UserWarning")


def _create(tmp_path: Path, tiny_model: str, **overrides: Any) -> str:
    storage = f"sqlite:///{tmp_path}/s.db"
    raw = retrieval_config(tiny_model, **overrides)
    created = invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", storage)
    assert created.exit_code == 0, created.stderr
    return storage


def _local(storage: str, monkeypatch: pytest.MonkeyPatch, study: str = "tiny-retrieval", **arguments: Any) -> Any:
    from hpo.cloud.modal_app import ModalSettings, build_worker

    monkeypatch.setenv("HPO_STORAGE", storage)  # what the modal.Secret provides in a container
    return build_worker(ModalSettings()).function.local(study, StorageUrl.parse(storage).redacted, **arguments)


def _trials(storage: str) -> list[Any]:
    import optuna

    backend = open_storage(StorageUrl.parse(storage)).backend
    return optuna.load_study(study_name="tiny-retrieval", storage=backend).get_trials(deepcopy=False)


@pytest.mark.parametrize(
    ("device", "key"),
    [
        ("H100", "H100"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("h100", "H100"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("A100-80GB", "A100-80GB"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA A10G", "A10G"),
        ("A10", "A10"),
    ],
)
def test_prices_match_whole_names_only(device: str, key: str) -> None:
    from hpo.stats.cost import price_per_hour

    prices = {
        "H100": 3.95,
        "H200": 4.5,
        "A100": 2.1,
        "A100-80GB": 2.5,
        "L4": 0.8,
        "L40S": 1.95,
        "A10": 1.1,
        "A10G": 1.1,
    }
    assert price_per_hour(prices, device) == prices[key]


@pytest.mark.parametrize(
    ("prices", "device"),
    [
        ({"L4": 0.8}, "NVIDIA L40S"),  # a substring, not the name
        ({"A10": 1.1}, "NVIDIA A100-SXM4-40GB"),
        ({"H100": 3.95}, "NVIDIA H200"),
        ({"A100-80GB": 2.5}, "NVIDIA A100-SXM4-40GB"),
    ],
)
def test_a_price_for_another_gpu_never_matches(prices: dict[str, float], device: str) -> None:
    from hpo.stats.cost import price_per_hour

    assert price_per_hour(prices, device) is None


def test_an_h100_container_on_an_h200_is_priced_as_the_h100_it_asked_for(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Modal may run gpu='H100' on an H200 at H100 prices; the study caps its spend, so a trial
    priced by the device seen (no price for 'NVIDIA H200') would refuse to run at all."""
    from hpo.cloud import container

    budget = {"n_trials": 1, "max_cost": 100.0}
    storage = _create(tmp_path, tiny_model, budget=budget, cost={"H100": 3.95, "cpu": 0.5})
    monkeypatch.setattr(container, "cuda_device_name", lambda: "NVIDIA H200")  # what torch sees in the container
    result = _local(storage, monkeypatch, gpu="H100")
    assert (result["states"], result["error"]) == ({"COMPLETE": 1}, None)
    (trial,) = _trials(storage)
    seconds = trial.user_attrs[attrs.DEVICE_SECONDS]
    assert trial.user_attrs[attrs.DEVICE_TYPE] == "H100"
    assert trial.user_attrs[attrs.COST_USD] == pytest.approx(seconds * 3.95 / 3600, abs=1e-6)


def test_a_container_whose_torch_sees_no_cuda_is_a_config_error(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from hpo.cloud import container

    storage = _create(tmp_path, tiny_model, budget={"n_trials": 1})
    monkeypatch.setattr(container, "cuda_device_name", lambda: None)
    result = _local(storage, monkeypatch, gpu="A10G")
    assert result == {
        "states": {},
        "stopped_because": "",
        "error": f"this container asked for GPU A10G but its torch {torch.__version__} sees no CUDA device "
        f"(built for CUDA {torch.version.cuda}); refusing to train on the CPU at GPU prices",
    }
    assert [t.state.name for t in _trials(storage)] == ["WAITING"]  # nothing ran


def test_a_hung_trial_ends_at_the_per_trial_time_limit(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpo.training import run

    storage = _create(tmp_path, tiny_model, budget={"n_trials": 2})

    def hung(*args: Any, **kwargs: Any) -> Any:
        time.sleep(60)  # a trial that never ends: the limit must
        raise AssertionError("the time limit did not end the trial")

    monkeypatch.setattr(run, "train_trial", hung)
    started = time.monotonic()
    result = _local(storage, monkeypatch, n_trials=1, trial_timeout=0.5)
    assert time.monotonic() - started < 30
    assert (result["states"], result["stopped_because"]) == ({"FAIL": 1}, "ran --n-trials 1")
    failed = [t for t in _trials(storage) if t.state.name == "FAIL"]
    assert [t.user_attrs[attrs.FAIL_REASON] for t in failed] == [
        "TrialTimeLimitError: trial 0 ran past the per-trial time limit of 0.5 s (--trial-timeout)"
    ]
    assert sum(t.state.name == "WAITING" for t in _trials(storage)) == 2  # a fresh trial took its place


def test_a_trial_python_cannot_interrupt_ends_the_container() -> None:
    """Stuck inside a C call, the trial never sees the exception: the process is ended instead."""
    from hpo.cloud.trial_limit import HARD_STOP_EXIT_CODE, TrialTimeLimit, TrialTimeLimitError
    from hpo.progress import LogProgress

    exits: list[int] = []
    ended = threading.Event()

    def exit_process(code: int) -> None:
        exits.append(code)
        ended.set()

    with TrialTimeLimit(0.1, hard_stop=0.1, exit_process=exit_process) as limit:
        listener = limit.listener(LogProgress)("ndcg@10")
        listener.trial_started(7, {})
        with contextlib.suppress(TrialTimeLimitError):  # as if it never reached the stuck trial
            time.sleep(5)
        assert ended.wait(5)
    assert exits == [HARD_STOP_EXIT_CODE]


def test_a_finished_trial_stops_its_timers() -> None:
    from hpo.cloud.trial_limit import TrialTimeLimit
    from hpo.progress import LogProgress

    exits: list[int] = []
    modal_cancels = signal.getsignal(signal.SIGUSR1)
    with TrialTimeLimit(0.2, hard_stop=0.1, exit_process=exits.append) as limit:
        assert signal.getsignal(signal.SIGUSR1) is modal_cancels  # Modal's input cancellation is left alone
        listener = limit.listener(LogProgress)("ndcg@10")
        listener.trial_started(0, {})
        listener.trial_finished(0, "COMPLETE", "")
        time.sleep(0.5)  # past both limits: nothing fires
    assert exits == []


def test_a_container_stops_idle_waiting_on_other_containers_trials(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna

    from hpo.store.trial_queue import pop_waiting_trial

    waits = {"heartbeat_interval": 1, "grace_period": 60}  # polls every second; the claimed trial stays fresh
    storage = _create(tmp_path, tiny_model, budget={"n_trials": 1}, fault_tolerance=waits)
    backend = open_storage(StorageUrl.parse(storage)).backend
    study = optuna.load_study(study_name="tiny-retrieval", storage=backend)
    assert pop_waiting_trial(study, backend) is not None  # another container runs the only trial
    started = time.monotonic()
    result = _local(storage, monkeypatch, idle_timeout=0.2)
    assert time.monotonic() - started < 30
    assert result == {
        "states": {},
        "stopped_because": "idle for 0.2 s waiting on other workers' trials",
        "error": None,
    }


def test_remote_code_runs_only_with_the_consent_passed_to_the_container(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _create(tmp_path, tiny_model, budget={"n_trials": 1}, trust_remote_code=True)
    refused = _local(storage, monkeypatch)
    assert refused["error"] == (
        f"study 'tiny-retrieval' asks to run model code from the Hub (trust_remote_code: true) for {tiny_model}, "
        f"which --trust-remote-code does not name; if you trust it, run again with --trust-remote-code {tiny_model}"
    )
    # Past the check; the worker stops before its first trial, which would only take time here.
    result = _local(storage, monkeypatch, trust_remote_code=tiny_model, timeout=0.001)
    assert (result["stopped_because"], result["error"]) == ("timeout of 0.001 s", None)


@pytest.mark.postgres
def test_a_missing_database_is_a_config_error_not_retried(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/hpo_no_such_database"
    result = _local(missing, monkeypatch, study="s")
    assert result["states"] == {} and result["stopped_because"] == ""
    assert result["error"].startswith(f"cannot open storage {StorageUrl.parse(missing)}: ")
    assert result["error"].endswith('database "hpo_no_such_database" does not exist')


def test_a_wrong_password_is_a_config_error_and_an_outage_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server trusts every connection, so the driver's answers are raised at the storage's
    boundary: as open_worker_storage words them after its own retries."""
    from hpo.errors import StorageError
    from hpo.workers import worker

    url = "postgresql+psycopg2://hpo:secret@db.example.com:5432/hpo"
    answer = (
        "cannot open storage postgresql+psycopg2://hpo:***@db.example.com:5432/hpo: "
        'FATAL:  password authentication failed for user "hpo"'
    )

    def refused(storage_url: StorageUrl) -> Any:
        raise StorageError(answer)

    monkeypatch.setattr(worker, "open_worker_storage", refused)
    assert _local(url, monkeypatch, study="s") == {"states": {}, "stopped_because": "", "error": answer}

    def outage(storage_url: StorageUrl) -> Any:
        raise StorageError("storage unreachable for over 300 s (fault_tolerance.db_outage_seconds): connection refused")

    monkeypatch.setattr(worker, "open_worker_storage", outage)
    with pytest.raises(StorageError):  # Modal retries the container
        _local(url, monkeypatch, study="s")


@pytest.mark.parametrize(
    "secret",
    [
        "postgresql+psycopg2://hpo:other@db.example.com:5432/hpo",
        "postgresql://hpo:secret@db.example.com/hpo?sslmode=require",
        "postgresql+psycopg2://hpo:secret@DB.example.com:5432/hpo?sslmode=require",
    ],
)
def test_the_secret_may_name_the_checked_database_in_another_form(secret: str) -> None:
    from hpo.cloud.container import check_same_database

    checked = StorageUrl.parse("postgresql+psycopg2://hpo:***@db.example.com:5432/hpo")
    check_same_database(StorageUrl.parse(secret), checked)


@pytest.mark.parametrize(
    "secret",
    [
        "postgresql+psycopg2://other:secret@db.example.com:5432/hpo",
        "postgresql+psycopg2://hpo:secret@db2.example.com:5432/hpo",
        "postgresql+psycopg2://hpo:secret@db.example.com:5433/hpo",
        "postgresql+psycopg2://hpo:secret@db.example.com:5432/hpo2",
        "postgresql://hpo:secret@db.example.com/hpo2?sslmode=require",
    ],
)
def test_a_secret_naming_another_user_host_port_or_database_is_refused(secret: str) -> None:
    from hpo.cloud.container import check_same_database
    from hpo.errors import UsageError

    checked = StorageUrl.parse("postgresql://hpo:***@db.example.com/hpo?sslmode=require")
    with pytest.raises(UsageError) as error:
        check_same_database(StorageUrl.parse(secret), checked)
    assert str(error.value).startswith(f"the Modal secret's HPO_STORAGE is '{StorageUrl.parse(secret)}', but ")


def test_a_container_quiets_the_noisy_libraries_as_the_cli_does(tmp_path: Path) -> None:
    """A container is an entry point of its own: with no logging set up, it sets up the CLI's."""
    import subprocess
    import sys

    storage = f"sqlite:///{tmp_path}/missing.db"
    code = (
        "import logging, os\n"
        f"os.environ['HPO_STORAGE'] = {storage!r}\n"
        "from hpo.cloud.container import run_container_worker\n"
        f"result = run_container_worker('s', {storage!r})\n"
        "print(logging.getLogger('httpx').level, logging.getLogger('sentence_transformers').level)\n"
        "print(result['error'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    levels, error = done.stdout.splitlines()
    assert levels == "30 30"  # WARNING: their INFO lines are left out
    assert error.startswith(f"storage file {tmp_path}/missing.db does not exist")
    assert f"ERROR hpo.cloud.container: storage file {tmp_path}/missing.db does not exist" in done.stderr
