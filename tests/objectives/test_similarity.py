"""Similarity scoring: graded pairs, CoSENT/AnglE/cosine losses, Spearman and Pearson."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.errors import DataError
from hpo.training.result import NullReporter
from hpo.training.run import train_trial
from objectives.similarity import TASK
from tests.helpers import SHARED_DATA, jsonl, pairs_config, parsed


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {"text1": f"a dog runs in field {i}", "text2": f"a dog is running {i % 7}", "score": (i % 5) / 4}
        for i in range(n)
    ]


def _config(model: str, train: str, loss: Any = "CoSENTLoss", **changes: Any) -> Any:
    raw = pairs_config(model, train, max_train_samples=96)
    raw.update(objective="similarity", **changes)
    raw["search_space"]["loss"] = loss
    return parsed(raw)


def test_scores_load_and_the_default_metric_is_spearman(tmp_path: Path) -> None:
    config = _config("m", jsonl(tmp_path / "t.jsonl", _rows(200)))
    assert config.metric_name == "spearman"
    data = TASK.load_data(config)
    assert all(0.0 <= s <= 1.0 for s in data.train.labels) and len(set(data.dev.labels)) > 1
    assert list(data.summary()) == ["train_pairs", "dev_pairs"]


def test_constant_scores_are_refused(tmp_path: Path) -> None:
    rows = [{**r, "score": 0.5} for r in _rows(60)]
    with pytest.raises(DataError, match=r"^data.train: all \d+ pairs have score 0.5; scores must vary$"):
        TASK.load_data(_config("m", jsonl(tmp_path / "t.jsonl", rows)))


@pytest.mark.parametrize(
    ("loss", "metric"),
    [
        ({"CoSENTLoss": {"scale": 20.0}}, "spearman"),
        ({"AnglELoss": {"scale": 20.0}}, "pearson"),
        ("CosineSimilarityLoss", "spearman"),
    ],
)
def test_each_loss_trains_and_reports_its_metric(tiny_model: str, tmp_path: Path, loss: Any, metric: str) -> None:
    config = _config(tiny_model, jsonl(tmp_path / "t.jsonl", _rows(200)), loss=loss, metric=metric)
    params = config.search_space.resolve({"learning_rate": 1e-3})
    reporter = NullReporter()
    result = train_trial(TASK, params, TASK.load_data(config), config, reporter)
    assert result.metric_key == f"dev_{metric}_cosine"
    assert result.value == result.metrics[f"dev_{metric}_cosine"]
    assert -1.0 <= result.value <= 1.0
    assert list(reporter.values) == [32, 64, 96]


@pytest.mark.skipif(not (SHARED_DATA / "sick").is_dir(), reason="../shared/data/sick is absent")
def test_sick_as_published() -> None:
    root = SHARED_DATA / "sick"
    raw = pairs_config(
        "m", str(root / "train.jsonl"), dev={"path": str(root / "dev.jsonl")}, test={"path": str(root / "test.jsonl")}
    )
    raw["objective"] = "similarity"
    raw["search_space"]["loss"] = "CoSENTLoss"
    data = TASK.load_data(parsed(raw), include_test=True)
    assert data.test is not None
    # only the 96 training pairs that repeat a dev or test pair are left out, not those sharing a sentence
    assert (len(data.train), len(data.dev), len(data.test)) == (4500 - 96, 500, 4927)
