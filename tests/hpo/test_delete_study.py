"""hpo delete-study and hpo create-study --replace: a study, its queued budget and its records go;
refused while workers hold RUNNING trials unless forced."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

from hpo import attrs
from tests.helpers import invoke, load_study, retrieval_config, storage, write_config


def _create(tmp_path: Path, url: str, tiny_model: str, *extra: str, n_trials: int = 3) -> str:
    raw = retrieval_config(tiny_model, budget={"n_trials": n_trials})
    config = write_config(tmp_path, raw)
    created = invoke("create-study", "--config", str(config), "--storage", url, *extra)
    assert created.exit_code == 0, created.stderr
    return str(config)


def _hold_one_trial(url: str) -> int:
    """Take a queued trial as a worker does (WAITING -> RUNNING) and keep it."""
    return load_study(url).ask().number


@pytest.mark.postgres
def test_delete_study_removes_the_study_its_queue_and_records(
    tmp_path: Path, tiny_model: str, postgres_url: str
) -> None:
    _create(tmp_path, postgres_url, tiny_model)
    study = load_study(postgres_url)
    study.set_user_attr(attrs.BASELINES, {"m": {"dev": {}}})
    trial = study.ask()
    study.tell(trial, 0.5)

    deleted = invoke("delete-study", "--study", "tiny-retrieval", "--storage", postgres_url)

    assert deleted.exit_code == 0, deleted.stderr
    shown = storage(postgres_url).url  # as messages show it: no password
    assert deleted.stdout == f"deleted study 'tiny-retrieval' from {shown}: 3 trials (1 complete, 2 waiting)\n"
    assert storage(postgres_url).study_names() == []
    # The name is free again: a new study of that name starts with its whole budget and nothing else.
    _create(tmp_path, postgres_url, tiny_model)
    again = load_study(postgres_url)
    assert [t.state for t in again.get_trials()] == [optuna.trial.TrialState.WAITING] * 3
    assert attrs.BASELINES not in again.user_attrs


def test_delete_study_refuses_while_a_trial_runs_unless_forced(tmp_path: Path, tiny_model: str) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    _create(tmp_path, url, tiny_model)
    held = _hold_one_trial(url)

    refused = invoke("delete-study", "--study", "tiny-retrieval", "--storage", url)

    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: study 'tiny-retrieval' has 1 RUNNING trial (trial {held}): stop its workers first, "
        "or add --force to delete it anyway\n"
    )
    assert storage(url).study_names() == ["tiny-retrieval"]

    forced = invoke("delete-study", "--study", "tiny-retrieval", "--storage", url, "--force")

    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout == f"deleted study 'tiny-retrieval' from {url}: 3 trials (1 running, 2 waiting)\n"
    assert storage(url).study_names() == []


def test_delete_study_names_a_missing_study_and_a_close_one(tmp_path: Path, tiny_model: str) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    _create(tmp_path, url, tiny_model)

    missing = invoke("delete-study", "--study", "tiny-retrieva", "--storage", url)

    assert missing.exit_code == 2
    assert missing.stderr == f"error: study 'tiny-retrieva' not found in {url}; did you mean 'tiny-retrieval'?\n"


def test_delete_study_refuses_a_study_hpo_did_not_create(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="someone-elses", storage=url)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)

    refused = invoke("delete-study", "--study", "someone-elses", "--storage", url)

    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: study 'someone-elses' was not created by hpo create-study (it has no stored config); "
        "hpo deletes only its own studies\n"
    )


def test_create_study_replace_starts_the_study_afresh_with_the_edited_config(
    tmp_path: Path, tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = f"sqlite:///{tmp_path}/study.db"
    _create(tmp_path, url, tiny_model)
    study = load_study(url)
    study.tell(study.ask(), 0.5)

    # The config was edited: the same name with another budget is refused, then replaced.
    raw = retrieval_config(tiny_model, budget={"n_trials": 5})
    config = str(write_config(tmp_path, raw))
    refused = invoke("create-study", "--config", config, "--storage", url, "--load-if-exists")
    assert refused.exit_code == 2
    replaced = invoke("create-study", "--config", config, "--storage", url, "--replace")

    assert replaced.exit_code == 0, replaced.stderr
    assert replaced.stdout == "tiny-retrieval\n"
    assert f"deleted study 'tiny-retrieval' from {url}: 3 trials (1 complete, 2 waiting); creating it again" in (
        caplog.messages
    )
    again = load_study(url)
    assert [t.state for t in again.get_trials()] == [optuna.trial.TrialState.WAITING] * 5
    assert again.user_attrs[attrs.CONFIG]["budget"]["n_trials"] == 5


def test_create_study_replace_refuses_while_a_trial_runs_unless_forced(
    tmp_path: Path, tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    config = _create(tmp_path, url, tiny_model)
    held = _hold_one_trial(url)

    refused = invoke("create-study", "--config", config, "--storage", url, "--replace")

    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[-1] == (
        f"error: study 'tiny-retrieval' has 1 RUNNING trial (trial {held}): stop its workers first, "
        "or add --force to replace it anyway"
    )
    assert optuna.trial.TrialState.RUNNING in {t.state for t in load_study(url).get_trials()}

    forced = invoke("create-study", "--config", config, "--storage", url, "--replace", "--force")

    assert forced.exit_code == 0, forced.stderr
    assert "deleting study 'tiny-retrieval' with 1 RUNNING trial: its workers fail at their next write" in (
        caplog.messages
    )
    assert [t.state for t in load_study(url).get_trials()] == [optuna.trial.TrialState.WAITING] * 3


def test_create_study_replace_of_a_new_name_just_creates_it(tmp_path: Path, tiny_model: str) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    _create(tmp_path, url, tiny_model, "--replace")
    assert storage(url).study_names() == ["tiny-retrieval"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--replace", "--load-if-exists"),
            "--replace and --load-if-exists exclude each other: replace the study, or reuse it",
        ),
        (("--force",), "--force goes with --replace: it replaces a study even while its trials run"),
    ],
)
def test_create_study_replace_options_that_do_not_go_together(
    tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    config = write_config(tmp_path, retrieval_config("unused/model"))
    result = invoke("create-study", "--config", str(config), "--storage", url, *options)
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"
    assert not (tmp_path / "study.db").exists()
