"""From best trial to final model: warm start, baselines, retraining, held-out test, model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo.errors import ConfigError
from hpo.results.final import load_best
from tests.helpers import invoke, load_study, retrieval_config, storage, write_config

ARTICLE_RECIPE = {"learning_rate": 2e-5, "batch_size": 16, "epochs": 1, "warmup_ratio": 0.1}


@pytest.fixture
def second_model(tiny_model: str, tmp_path: Path) -> str:
    copy = tmp_path / "tiny-model-copy"
    shutil.copytree(tiny_model, copy)
    return str(copy)


def _study(tmp_path: Path, config: dict[str, Any]) -> str:
    url = f"sqlite:///{tmp_path}/study.db"
    result = invoke("create-study", "--config", str(write_config(tmp_path, config)), "--storage", url)
    assert result.exit_code == 0, result.stderr
    return url


def _one_trial_best(tmp_path: Path, tiny_model: str) -> Path:
    """The best.yaml of a one-trial study on the tiny model."""
    url = _study(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 1}))
    assert invoke("worker", "--study", "tiny-retrieval", "--storage", url).exit_code == 0
    best = tmp_path / "best.yaml"
    assert invoke("best", "--study", "tiny-retrieval", "--storage", url, "-o", str(best)).exit_code == 0
    return best


def test_retrained_model_reproduces_the_trial_and_reports_test(tmp_path: Path, tiny_model: str) -> None:
    url = _study(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 2}, pruner={"type": "none"}))
    assert invoke("worker", "--study", "tiny-retrieval", "--storage", url).exit_code == 0
    best = tmp_path / "best.yaml"
    assert invoke("best", "--study", "tiny-retrieval", "--storage", url, "-o", str(best)).exit_code == 0

    out = tmp_path / "final"
    result = invoke("train", str(best), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    report = json.loads((out / "hpo_final.json").read_text())
    assert abs(report["dev"]["value"] - report["trial_dev_value"]) <= 0.005
    assert report["trained_on"] == ["train"]
    assert report["test"]["metric_key"] == "test_cosine_ndcg@10"
    assert list(report["baselines_test"]) == [f"{tiny_model} (zero-shot)"]

    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "split", "ndcg@10", "mrr@10", "scored", "on"]
    assert lines[2].startswith(f"{tiny_model} (zero-shot)  test")
    assert lines[3].startswith("tuned") and lines[3].split()[1] == "test"
    assert lines[-1] == f"saved {out}"

    card = (out / "README.md").read_text()
    assert "## Hyperparameter search" in card
    assert "The test split was never seen during the search." in card
    assert f"| learning_rate | {report['training']['learning_rate']} |" in card
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(out)).encode(["a query"]).shape == (1, 64)


def test_training_on_train_and_dev(tmp_path: Path, tiny_model: str) -> None:
    best = _one_trial_best(tmp_path, tiny_model)
    result = invoke("train", str(best), "-o", str(tmp_path / "final"), "--splits", "train,dev")
    assert result.exit_code == 0, result.stderr
    assert "dev (trained on)" in result.stdout


def test_warm_start_recipes_run_once_per_model(tmp_path: Path, tiny_model: str, second_model: str) -> None:
    config = retrieval_config(tiny_model, budget={"n_trials": 3}, warm_start={"recipes": [ARTICLE_RECIPE]})
    config["search_space"]["model"] = {"type": "categorical", "choices": [tiny_model, second_model]}
    config["search_space"]["batch_size"] = {"type": "categorical", "choices": [16, 32]}
    url = _study(tmp_path, config)
    study = load_study(url)
    queued = [t.system_attrs["fixed_params"] for t in study.trials]
    assert queued == [
        {"model": tiny_model, "learning_rate": 2e-5, "batch_size": 16},
        {"model": second_model, "learning_rate": 2e-5, "batch_size": 16},
        {},
    ]
    assert invoke("worker", "--study", "tiny-retrieval", "--storage", url).exit_code == 0
    study = load_study(url)
    recipe_runs = [t for t in study.trials if t.params.get("learning_rate") == 2e-5]
    assert sorted(t.params["model"] for t in recipe_runs) == sorted([tiny_model, second_model])
    assert all(t.user_attrs["training"]["warmup_ratio"] == 0.1 for t in recipe_runs)


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        (
            {"learning_rate": 2.0},
            "warm_start.recipes[0].learning_rate: 2.0 is outside the search space (1e-05 to 0.01)",
        ),
        ({"epochs": 3}, "warm_start.recipes[0].epochs: 3 differs from the fixed value 1 in search_space"),
        ({"lr": 1e-4}, "warm_start.recipes[0]: unknown key 'lr'"),
    ],
)
def test_bad_warm_start_recipe(tmp_path: Path, recipe: dict[str, Any], message: str) -> None:
    config = write_config(tmp_path, retrieval_config("m", warm_start={"recipes": [recipe]}))
    result = invoke("create-study", "--config", str(config), "--storage", f"sqlite:///{tmp_path}/s.db")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: {message}")


def test_baselines_are_stored_and_shown(tmp_path: Path, tiny_model: str) -> None:
    url = _study(tmp_path, retrieval_config(tiny_model))
    result = invoke("baseline", "--study", "tiny-retrieval", "--storage", url)
    assert result.exit_code == 0, result.stderr
    rows = result.stdout.splitlines()
    assert [r.split()[1] for r in rows[2:]] == ["dev", "test"]
    study = load_study(url)
    stored = study.user_attrs["hpo_baselines"][tiny_model]
    assert set(stored) == {"dev", "test"}
    assert stored["test"]["metric_key"] == "test_cosine_ndcg@10"
    status = invoke("status", "--study", "tiny-retrieval", "--storage", url).stdout
    assert (
        f"baseline:  {tiny_model} zero-shot: dev {stored['dev']['value']:.4f} on {stored['dev']['corpus']}, test "
        in status
    )
    from optuna_dashboard._note import get_note_from_system_attrs

    rdb = storage(url).backend
    system_attrs = rdb.get_study_system_attrs(rdb.get_study_id_from_name("tiny-retrieval"))
    note = get_note_from_system_attrs(system_attrs, None)["body"]
    assert "**Zero-shot baselines**" in note
    assert "**Metric**: ndcg@10 on the dev split (maximize)" in note


def test_evaluate_any_model_with_a_config(tmp_path: Path, tiny_model: str) -> None:
    config = write_config(tmp_path, retrieval_config(tiny_model))
    result = invoke("evaluate", tiny_model, "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[2].startswith(tiny_model)
    assert "test_cosine_ndcg@10 " in result.stdout


def test_push_without_hub_fails_before_training(tmp_path: Path) -> None:
    best = tmp_path / "best.yaml"
    best.write_text(yaml.safe_dump({"config": retrieval_config("m"), "training": {}}))
    with pytest.raises(ConfigError, match=r"best.yaml: training.model: missing required key$"):
        load_best(best)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: x\n")
    result = invoke("train", str(bad), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {bad}: not an exported best trial (missing 'config'); "
        "export one with: hpo best --study NAME -o best.yaml\n"
    )


def test_push_to_hub_offline_and_non_empty_output(tmp_path: Path, tiny_model: str) -> None:
    best = _one_trial_best(tmp_path, tiny_model)
    result = invoke("train", str(best), "-o", str(tmp_path / "final"), "--push-to-hub", "me/model")
    assert result.exit_code == 2
    assert result.stderr == "error: --push-to-hub me/model: the Hugging Face Hub is offline (HF_HUB_OFFLINE is set)\n"
    assert not (tmp_path / "final").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    result = invoke("train", str(best), "-o", str(tmp_path / "full"))
    assert result.stderr == f"error: output folder {tmp_path / 'full'} is not empty; choose another or remove it\n"
    bad_splits = invoke("train", str(best), "-o", str(tmp_path / "o"), "--splits", "dev")
    assert bad_splits.stderr == (
        "error: --splits 'dev': use 'train' or 'train,dev' (the test split is never trained on)\n"
    )
