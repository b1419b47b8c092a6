"""The command line: exact one-line errors with exit code 2, and nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
