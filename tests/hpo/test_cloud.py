"""Checks before a Modal launch: what a cloud container can reach, Modal's limits, and the study's data.

Each refusal is one exact line and exit code 2, before anything is launched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpo.cloud.reach import check_reachable_from_cloud
from hpo.errors import UsageError
from hpo.store.storage import StorageUrl
from tests.helpers import create_file_study, invoke, retrieval_config, retrieval_rows, write_config

FIX = "use a Postgres reachable from the internet (managed, or tunnelled)"
PUBLIC = "postgresql+psycopg2://hpo:secret@db.example.com:5432/hpo"


@pytest.mark.parametrize(
    ("host", "what"),
    [
        ("localhost", "is this machine"),
        ("127.0.0.1", "is this machine"),
        ("db.localhost", "is this machine"),
        ("0.0.0.0", "is this machine"),
        ("[::1]", "is this machine"),
        ("10.1.2.3", "is an address of a private network (10.0.0.0/8)"),
        ("172.20.0.5", "is an address of a private network (172.16.0.0/12)"),
        ("192.168.1.10", "is an address of a private network (192.168.0.0/16)"),
        ("169.254.1.1", "is an address of link-local (169.254.0.0/16)"),
        ("100.64.0.1", "is an address of carrier-grade NAT (100.64.0.0/10)"),
        ("[fd12:3456::1]", "is an address of an IPv6 unique local network (fc00::/7)"),
        ("[fe80::1]", "is an address of link-local (fe80::/10)"),
        ("[::ffff:10.0.0.1]", "is an address of a private network (10.0.0.0/8)"),
        ("postgres", "is a bare name that only your own network resolves"),
        ("db", "is a bare name that only your own network resolves"),
    ],
)
def test_storage_a_cloud_container_cannot_reach_is_refused(host: str, what: str) -> None:
    url = f"postgresql+psycopg2://hpo:secret@{host}:5432/hpo"
    with pytest.raises(UsageError) as error:
        check_reachable_from_cloud(StorageUrl.parse(url))
    shown = host.strip("[]")
    assert str(error.value) == (
        f"storage host '{shown}' in 'postgresql+psycopg2://hpo:***@{host}:5432/hpo' {what}, "
        f"which a cloud container cannot reach; {FIX}"
    )


@pytest.mark.parametrize("host", ["db.example.com", "8.8.8.8", "172.32.0.1", "100.128.0.1", "[2001:4860::8888]"])
def test_public_storage_passes(host: str) -> None:
    check_reachable_from_cloud(StorageUrl.parse(f"postgresql+psycopg2://hpo:secret@{host}:5432/hpo"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retries", "11"], "--retries 11: Modal allows 0 to 10 retries"),
        (["--retries", "-1"], "--retries -1: Modal allows 0 to 10 retries"),
        (
            ["--container-timeout", "86401"],
            "--container-timeout 86401: give 60 to 86400 s (Modal stops a container after at most 24 h)",
        ),
        (
            ["--container-timeout", "59"],
            "--container-timeout 59: give 60 to 86400 s (Modal stops a container after at most 24 h)",
        ),
        (
            ["--gpu", "H100:2"],
            "--gpu H100:2: a container runs one worker on one GPU; give 'H100' and start more containers with "
            "--containers",
        ),
        (
            ["--container-timeout", "3600", "--trial-timeout", "3600"],
            "--trial-timeout 3600: give more than 0 and less than --container-timeout (3600 s), so that a hung "
            "trial ends before its container does",
        ),
        (["--idle-timeout", "0"], "--idle-timeout 0: give a number of seconds above 0"),
    ],
)
def test_modal_limits_are_checked_before_launch(args: list[str], message: str) -> None:
    result = invoke("modal", "--study", "s", "--storage", PUBLIC, *args)
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")


@pytest.fixture
def no_modal_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("modal", reason="the [modal] extra is not installed")
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    from modal.config import config

    monkeypatch.setattr(config, "get", lambda key, profile=None, use_env=True: None)


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
            "postgresql+psycopg2://hpo:secret@postgres:5432/hpo",
            "error: storage host 'postgres' in 'postgresql+psycopg2://hpo:***@postgres:5432/hpo' is a bare name "
            "that only your own network resolves, which a cloud container cannot reach; "
            "use a Postgres reachable from the internet (managed, or tunnelled)\n",
        ),
        (
            PUBLIC,
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


def test_help_imports_neither_modal_nor_torch() -> None:
    code = (
        "import sys, hpo.cli; hpo.cli.cli.main(['modal', '--help'], standalone_mode=False); "
        "print('modal' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")


@pytest.fixture
def reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SQLite study passes for one the cloud can reach, and a token is configured: the data checks run."""
    pytest.importorskip("modal", reason="the [modal] extra is not installed")
    from hpo.cloud import launch as cloud

    monkeypatch.setattr(cloud, "check_reachable_from_cloud", lambda url: None)
    monkeypatch.setattr(cloud, "has_token", lambda: True)


def test_demo_data_study_is_refused(reachable: None, tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    config = write_config(tmp_path, retrieval_config(tiny_model))
    assert invoke("create-study", "--config", str(config), "--storage", storage).exit_code == 0
    result = invoke("modal", "--study", "tiny-retrieval", "--storage", storage)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: study 'tiny-retrieval' uses the built-in demo data (data.train: builtin:stdlib-docstrings), "
        "which is read from this machine's Python and differs in a container; to run it on Modal, create the "
        "study from data files (data.*.path) or a Hub dataset (data.*.hub)\n"
    )


def test_file_study_carries_its_files_and_local_model(reachable: None, tmp_path: Path, tiny_model: str) -> None:
    from hpo.cloud.launch import prepare_launch
    from hpo.cloud.modal_app import LaunchRequest

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    storage = f"sqlite:///{tmp_path}/s.db"
    train = create_file_study(tmp_path, storage, model=str(model))
    prepared = prepare_launch(LaunchRequest(StorageUrl.parse(storage), "files"))
    assert prepared.settings.carry == (str(train.resolve()), str(model))


def test_file_study_whose_file_is_gone_is_refused(reachable: None, tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    train = create_file_study(tmp_path, storage, tiny_model).resolve()
    train.unlink()
    result = invoke("modal", "--study", "files", "--storage", storage)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: data.train: file not found here: {train}; hpo modal uploads the study's local files from "
        "this machine, so run it where the study was created\n",
    )


def test_file_study_whose_file_changed_is_refused(reachable: None, tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    train = create_file_study(tmp_path, storage, tiny_model)
    train.write_text("".join(json.dumps(row) + "\n" for row in retrieval_rows(201)))
    result = invoke("modal", "--study", "files", "--storage", storage)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: study 'files': the data files here differ from the data it was created ")
    assert result.stderr.endswith("...); restore the files, or create a new study\n")


def test_relative_model_path_is_refused(
    reachable: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: str
) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    shutil.copytree(tiny_model, tmp_path / "model")
    monkeypatch.chdir(tmp_path)
    create_file_study(tmp_path, storage, model="model")
    result = invoke("modal", "--study", "files", "--storage", storage)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: search_space.model: 'model' is not an absolute path, which a container cannot resolve; "
        "create the study with the model's absolute path\n",
    )


@pytest.mark.parametrize(
    ("gpu", "container_timeout", "priced_as", "trial_limit"),
    [("A10G", 86400, "A10G", 7200), ("H100!", 3600, "H100", 1800), ("a100-80gb:1", 86400, "a100-80gb", 7200)],
)
def test_gpu_type_and_trial_limit_defaults(gpu: str, container_timeout: int, priced_as: str, trial_limit: int) -> None:
    from hpo.cloud.modal_app import ModalSettings

    settings = ModalSettings(gpu=gpu, timeout=container_timeout)
    assert (settings.gpu_type, settings.trial_limit) == (priced_as, trial_limit)


def _finish_every_trial(storage: str, study_name: str) -> None:
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.RUNNING)
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)


def test_a_finished_study_is_refused_before_launch(reachable: None, tmp_path: Path, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    create_file_study(tmp_path, storage, tiny_model)
    _finish_every_trial(storage, "files")
    result = invoke("modal", "--study", "files", "--storage", storage, "--containers", "8")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: study 'files' has no trials waiting or running (its budget of 4 trials is done), so containers "
        "would find nothing to do; see: hpo status --study files\n",
    )


def test_a_spend_cap_without_a_price_for_the_gpu_asked_for_is_refused(
    reachable: None, tmp_path: Path, tiny_model: str
) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in retrieval_rows(200)))
    raw = retrieval_config(tiny_model, study_name="capped", cost={"A10G": 1.1}, budget={"n_trials": 2, "max_cost": 5})
    raw["data"] = {**raw["data"], "train": {"path": str(train)}}
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", storage).exit_code == 0
    result = invoke("modal", "--study", "capped", "--storage", storage, "--gpu", "A10")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: study 'capped' caps its spend (budget.max_cost) but its cost table has no price for --gpu A10 "
        "(prices: A10G); add a price for A10, or ask for a priced GPU\n",
    )


@pytest.mark.parametrize("path", ["C:\\data\\train.jsonl", "D:/data/train.jsonl", "\\\\server\\share\\train.jsonl"])
def test_windows_data_paths_are_refused(tiny_model: str, path: str) -> None:
    from hpo.cloud.reach import files_to_carry
    from tests.helpers import parsed

    raw = retrieval_config(tiny_model)
    raw["data"] = {**raw["data"], "train": {"path": path}}
    with pytest.raises(UsageError) as error:
        files_to_carry(parsed(raw))
    assert str(error.value) == (
        f"data.train: '{path}' is a Windows path, which a Linux container cannot mount at the same path; "
        "create the study with the file's POSIX path (on Linux, macOS or WSL) and run hpo modal there"
    )
