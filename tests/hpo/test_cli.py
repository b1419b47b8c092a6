"""The command line: exact one-line errors with exit code 2, and nothing written on bad input."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import invoke, jsonl, pair_rows, retrieval_config, write_config


def _pairs(tmp_path: Path, rows: list[dict[str, Any]], model: str) -> dict[str, Any]:
    raw = retrieval_config(model, objective="pair-classification", study_name="pairs")
    raw["search_space"]["loss"] = "OnlineContrastiveLoss"
    raw["data"] = {"train": {"path": jsonl(tmp_path / "train.jsonl", rows)}}
    return raw


def test_help_does_not_import_torch() -> None:
    code = "import sys, hpo.cli; hpo.cli.cli.main(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    raw = retrieval_config("m")
    raw["search_space"]["batch_size"] = 0
    config = write_config(tmp_path, raw)
    db = tmp_path / "s.db"
    result = invoke("create-study", "--config", str(config), "--storage", f"sqlite:///{db}")
    assert result.exit_code == 2
    assert result.stderr == f"error: {config}: search_space: batch_size: 0 is not allowed (needs batch_size >= 2)\n"
    assert result.stdout == ""
    assert not db.exists()


def test_bad_data_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: str) -> None:
    rows = pair_rows(40)
    rows[7]["label"] = 3
    config = write_config(tmp_path, _pairs(tmp_path, rows, tiny_model))
    db = tmp_path / "s.db"
    result = invoke("create-study", "--config", str(config), "--storage", f"sqlite:///{db}")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: data.train ({tmp_path / 'train.jsonl'}): row 8: column 'label' (label) must be 0 or 1, got 3; "
        "for other labels set data.positive_label to the value that means a match\n"
    )
    assert not db.exists()


def test_schedule_finer_than_a_batch_is_rejected(tmp_path: Path, tiny_model: str) -> None:
    raw = retrieval_config(tiny_model)
    raw["search_space"]["batch_size"] = {"type": "categorical", "choices": [16, 64]}
    result = invoke(
        "create-study",
        "--config",
        str(write_config(tmp_path, raw)),
        "--storage",
        f"sqlite:///{tmp_path}/s.db",
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: evaluation.every_samples (32) is smaller than the largest batch_size (64); "
        "evaluations would be skipped for large batches\n"
    )


def test_reusing_a_study_keeps_its_note_of_finished_trials(tmp_path: Path, tiny_model: str) -> None:
    """A new study's note is written without reading its queue back; a reused one's still shows its best."""
    import optuna
    from optuna_dashboard._note import get_note_from_system_attrs

    from hpo import attrs

    config = write_config(tmp_path, _pairs(tmp_path, pair_rows(60), tiny_model))
    url = f"sqlite:///{tmp_path}/s.db"
    assert invoke("create-study", "--config", str(config), "--storage", url).exit_code == 0
    backend = optuna.storages.RDBStorage(url)
    study_id = backend.get_study_id_from_name("pairs")

    def note() -> str:
        return str(get_note_from_system_attrs(backend.get_study_system_attrs(study_id), None)["body"])

    assert "**Best so far**: no complete trial yet." in note()
    first = backend.get_all_trials(study_id)[0]
    backend.set_trial_user_attr(first._trial_id, attrs.TRAINING, {})  # as a worker records it
    backend.set_trial_state_values(first._trial_id, optuna.trial.TrialState.COMPLETE, [0.5])
    assert invoke("create-study", "--config", str(config), "--storage", url, "--load-if-exists").exit_code == 0
    assert "**Best so far**: trial 0, " in note()


def test_existing_study_needs_load_if_exists_with_identical_config(tmp_path: Path, tiny_model: str) -> None:
    config = write_config(tmp_path, _pairs(tmp_path, pair_rows(60), tiny_model))
    url = f"sqlite:///{tmp_path}/s.db"
    assert invoke("create-study", "--config", str(config), "--storage", url).stdout == "pairs\n"
    again = invoke("create-study", "--config", str(config), "--storage", url)
    assert again.exit_code == 2
    assert again.stderr == (
        f"error: study 'pairs' already exists in {url} "
        "(use --load-if-exists to reuse it, or --name to create another)\n"
    )
    reuse = invoke("create-study", "--config", str(config), "--storage", url, "--load-if-exists")
    assert (reuse.exit_code, reuse.stdout) == (0, "pairs\n")
    raw = _pairs(tmp_path, pair_rows(60), tiny_model)
    raw["seed"] = 7
    changed = invoke(
        "create-study",
        "--config",
        str(write_config(tmp_path, raw, "b.yaml")),
        "--storage",
        url,
        "--load-if-exists",
    )
    assert changed.stderr == "error: study 'pairs' exists with a different config; use --name to create another\n"
    renamed = invoke("create-study", "--config", str(config), "--storage", url, "--name", "pairs-2")
    assert renamed.stdout == "pairs-2\n"
    listing = invoke("studies", "--storage", url).stdout.splitlines()
    assert listing[0].split() == [
        "study",
        "objective",
        "metric",
        "complete",
        "pruned",
        "fail",
        "running",
        "waiting",
        "best",
    ]
    assert listing[1].split() == ["pairs", "pair-classification", "ap", "0", "0", "0", "0", "4", "-"]
    assert listing[2].split()[0] == "pairs-2"


def test_missing_study_and_bad_storage_url(tmp_path: Path, tiny_model: str) -> None:
    config = write_config(tmp_path, _pairs(tmp_path, pair_rows(60), tiny_model))
    url = f"sqlite:///{tmp_path}/s.db"
    invoke("create-study", "--config", str(config), "--storage", url)
    result = invoke("worker", "--study", "pair", "--storage", url)
    assert result.exit_code == 2
    assert result.stderr == f"error: study 'pair' not found in {url}; did you mean 'pairs'?\n"
    result = invoke("status", "--study", "pairs", "--storage", "redis://u:pw@host/0")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: storage URL 'redis://u:***@host/0': unsupported scheme 'redis' ")
    result = invoke("best", "--study", "pairs", "--storage", url)
    assert result.exit_code == 2
    assert result.stderr == "error: study 'pairs' has no complete trial yet (run: hpo worker --study pairs)\n"


def test_storage_comes_from_environment(tmp_path: Path, tiny_model: str) -> None:
    config = write_config(tmp_path, _pairs(tmp_path, pair_rows(60), tiny_model))
    env = {"HPO_STORAGE": f"sqlite:///{tmp_path}/env.db"}
    assert invoke("create-study", "--config", str(config), env=env).exit_code == 0
    status = json.loads(invoke("status", "--study", "pairs", "--json", env=env).stdout)
    assert status["states"]["WAITING"] == 4
    assert status["budget"] == 4


def test_worker_refuses_data_that_changed(tmp_path: Path, tiny_model: str) -> None:
    raw = _pairs(tmp_path, pair_rows(60), tiny_model)
    config = write_config(tmp_path, raw)
    url = f"sqlite:///{tmp_path}/s.db"
    invoke("create-study", "--config", str(config), "--storage", url)
    rows = pair_rows(60)
    rows[0]["text1"] = "a question that was edited after the study was created"
    jsonl(tmp_path / "train.jsonl", rows)
    result = invoke("worker", "--study", "pairs", "--storage", url)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: data differs from the data study 'pairs' was created with (study sha256:")
    assert result.stderr.endswith("; point this worker at the same files, or create a new study\n")


@pytest.mark.parametrize(
    ("gpus", "message"),
    [
        ("0,x", "--gpus '0,x': give GPU indices like 0,1 or 'all'"),
        ("1,1", "--gpus '1,1': a GPU is listed twice"),
    ],
)
def test_bad_gpu_lists(tmp_path: Path, gpus: str, message: str) -> None:
    result = invoke("worker", "--study", "s", "--gpus", gpus, "--storage", f"sqlite:///{tmp_path}/s.db")
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")


def test_bad_device_share_from_a_parent_exits_2(tmp_path: Path) -> None:
    env = {"HPO_DEVICE_SHARE": "2"}
    result = invoke("worker", "--study", "s", "--storage", f"sqlite:///{tmp_path}/s.db", env=env)
    assert (result.exit_code, result.stderr) == (2, "error: HPO_DEVICE_SHARE='2': expected a number in (0, 1]\n")
    assert not (tmp_path / "s.db").exists()


# What a read-only view says, and what it keeps quiet (issue: numbers that mislead, the first experience).


def test_status_without_prices_shows_device_hours_and_says_there_are_no_prices(finished_study: str) -> None:
    from hpo.views.summary import NO_PRICES, _spend_line

    spend = {
        "dollars": 0.0,
        "device_seconds": 36.0,
        "priced_trials": 0,
        "unpriced_trials": 4,
        "device_seconds_by_type": {"cpu": 36.0},
    }
    assert _spend_line(spend) == (
        "0.01 h cpu of device time over 4 trials; "
        "no prices, so no dollars (set cost: dollars per device-hour, e.g. {cpu: 0.10})"
    )
    lines = invoke("status", "--study", "tiny-retrieval", "--storage", finished_study).stdout.splitlines()
    spent = next(line for line in lines if line.startswith("spend:"))
    assert spent.startswith("spend:     0.0") and spent.endswith(f" h cpu of device time over 4 trials; {NO_PRICES}")
    assert "$" not in spent.split("(")[0]


def test_best_yaml_writes_only_the_config_fields_that_are_set_and_reads_back(
    finished_study: str, tmp_path: Path
) -> None:
    from hpo.results.export import read_best_file
    from hpo.store.study import load_stored_study
    from tests.helpers import storage

    path = tmp_path / "best.yaml"
    assert invoke("best", "--study", "tiny-retrieval", "--storage", finished_study, "-o", str(path)).exit_code == 0
    written = yaml.safe_load(path.read_text())["config"]
    stored = load_stored_study(storage(finished_study), "tiny-retrieval").config
    assert written == stored.model_dump(mode="json", exclude_defaults=True)
    assert None not in _leaves(written)
    assert "fault_tolerance" not in written and "significance" not in written  # all defaults
    assert written["budget"] == {"n_trials": 4}
    _, config = read_best_file(path)  # what hpo train reads
    assert config == stored
    # The block is a study config of its own: create-study takes it as it is.
    again = write_config(tmp_path, written, "again.yaml")
    created = invoke(
        "create-study", "--config", str(again), "--name", "again", "--storage", f"sqlite:///{tmp_path}/a.db"
    )
    assert (created.exit_code, created.stdout) == (0, "again\n")


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def test_library_records_below_warning_are_dropped_unless_debug() -> None:
    from hpo.log_setup import LibraryRecords

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "message", None, None)

    keep = LibraryRecords().filter
    assert not keep(record("optuna.storages._rdb.storage", logging.INFO))
    assert keep(record("optuna.study", logging.WARNING))
    assert keep(record("hpo.results.new_study", logging.INFO))
    assert keep(record("optunaish", logging.INFO))  # a name that only starts like a library's


def test_optuna_info_lines_stay_out_of_create_study_and_report(tmp_path: Path, tiny_model: str) -> None:
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 1}))
    env = {**os.environ, "HPO_STORAGE": f"sqlite:///{tmp_path}/s.db", "HF_HUB_OFFLINE": "1"}
    for command in (["create-study", "--config", str(config)], ["report", "--study", "tiny-retrieval", "-o", "r"]):
        done = subprocess.run(
            [sys.executable, "-m", "hpo", *command], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert [line for line in done.stderr.splitlines() if " optuna" in line] == []
        assert "A new study created" not in done.stderr


def test_a_create_study_that_fails_on_row_1_does_not_load_the_model_libraries(tmp_path: Path, tiny_model: str) -> None:
    raw = _pairs(tmp_path, [{"text1": "a", "text2": "b", "label": 7}, *pair_rows(10)], tiny_model)
    arguments = [
        "create-study",
        "--config",
        str(write_config(tmp_path, raw)),
        "--storage",
        f"sqlite:///{tmp_path}/s.db",
    ]
    probe = (
        "import sys\nfrom hpo.cli import cli\ntry:\n"
        f"    cli.main({arguments!r})\n"
        "except SystemExit as stop:\n"
        "    heavy = ('transformers', 'torch', 'sentence_transformers')\n"
        "    print(stop.code, sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert "row 1: column 'label' (label) must be 0 or 1, got 7" in done.stderr
    assert done.stdout == "2 []\n"
    assert not (tmp_path / "s.db").exists()


def test_readme_command_1_scores_zero_shot_before_the_search_and_best_says_if_tuning_helped() -> None:
    from hpo.results.export import ExportedBest, MetricRecord, TrialRecord
    from tests.helpers import training_params

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    command_1 = readme.split("```bash\n", 1)[1].split("\n```", 1)[0]
    steps = [part.split()[1] for part in command_1.split(" && ") if part.startswith(".venv/bin/hpo ")]
    assert steps == ["create-study", "baseline", "worker", "best"]

    row = {"reference": "all-MiniLM-L6-v2 (zero-shot)", "metric": "ndcg@10", "min_gain": 0.01}
    document = ExportedBest(
        metric=MetricRecord(name="ndcg@10", value=0.61, direction="maximize"),
        trial=TrialRecord(number=3),
        training=training_params(),
        config={},
        significance=[
            {**row, "difference": 0.04, "low": 0.01, "high": 0.07, "verdict": "WIN"},
            {**row, "difference": 0.004, "low": 0.001, "high": 0.007, "verdict": "MARGINAL"},
        ],
    )
    head = "verdict: vs all-MiniLM-L6-v2 (zero-shot), dev ndcg@10: "
    assert document.describe().splitlines()[-2:] == [
        head + "+0.0400 [+0.0100, +0.0700] WIN (gain >= min_gain 0.01)",
        head + "+0.0040 [+0.0010, +0.0070] MARGINAL (gain < min_gain 0.01)",
    ]
