from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hpo.errors import ConfigError
from hpo.settings.params import FixedParam
from hpo.store.config_file import load_config, parse_config
from objectives.registry import get_task
from tests.helpers import retrieval_config, write_config


def _with(path: str, value: Any) -> dict[str, Any]:
    """The base config with the dotted key ``path`` set to ``value`` (deleted when value is DELETE)."""
    config = copy.deepcopy(retrieval_config("some/model"))
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return config


DELETE = object()

BAD_CONFIGS = [
    (
        "search_space.lerning_rate",
        1e-4,
        "search_space: unknown key 'lerning_rate'; did you mean 'learning_rate'?",
    ),
    (
        "objective",
        "ranking",
        "objective: Input should be 'retrieval', 'pair-classification' or 'similarity' (got 'ranking')",
    ),
    ("study_name", DELETE, "study_name: missing required key"),
    ("study_name", "my study", "study_name: String should match pattern"),
    (
        "metric",
        "ndcg",
        "metric 'ndcg' is not reported by the retrieval evaluator (use one of: ndcg@10, mrr@10",
    ),
    (
        "search_space.loss",
        "ContrastiveLoss",
        "search_space.loss: 'ContrastiveLoss' is not a retrieval loss (allowed: MultipleNegativesRankingLoss, ",
    ),
    (
        "search_space.loss",
        {"MultipleNegativesRankingLoss": {"scael": 20}},
        "search_space.loss.MultipleNegativesRankingLoss: unknown key 'scael'; did you mean 'scale'?",
    ),
    (
        "search_space.loss",
        {"MultipleNegativesRankingLoss": {"scale": "big"}},
        "search_space.loss.MultipleNegativesRankingLoss.scale: 'big' is not float-valued",
    ),
    (
        "search_space.learning_rate",
        {"type": "float", "low": 0, "high": 0.1, "log": True},
        "search_space.learning_rate: a log-scale range needs low > 0 (got 0.0)",
    ),
    (
        "search_space.learning_rate",
        {"type": "float", "low": 0.1, "high": 0.01},
        "search_space.learning_rate: low (0.1) must not exceed high (0.01)",
    ),
    (
        "search_space.learning_rate",
        {"type": "uniform", "low": 0.1, "high": 0.01},
        "search_space.learning_rate: a searched parameter needs 'type' set to one of: "
        "float, int, categorical (got 'uniform')",
    ),
    (
        "search_space.batch_size",
        {"type": "float", "low": 8, "high": 64},
        "search_space: batch_size: must be int-valued; use type int or categorical",
    ),
    (
        "search_space.batch_size",
        [16, 32],
        "search_space.batch_size: a list is not a parameter; use {type: categorical",
    ),
    (
        "search_space.learning_rate",
        5,
        "search_space: learning_rate: 5 is not allowed (needs 0 < learning_rate < 1)",
    ),
    (
        "search_space.scheduler",
        "exp",
        "search_space: scheduler: 'exp' is not allowed (needs one of: linear, cosine",
    ),
    ("search_space.epochs", DELETE, "search_space.epochs: missing required key"),
    ("evaluation.every_samples", 0, "evaluation.every_samples: Input should be greater than 0 (got 0)"),
    (
        "pruner",
        {"type": "median", "n_startup": 2},
        "pruner: unknown key 'n_startup'; did you mean 'n_startup_trials'?",
    ),
    (
        "pruner",
        {"type": "asha"},
        "pruner: Input tag 'asha' found using 'type' does not match any of the expected tags",
    ),
    ("budget.n_trials", -1, "budget.n_trials: Input should be greater than 0 (got -1)"),
    ("precision", "fp16", "precision: Input should be 'auto' or 'fp32' (got 'fp16')"),
    (
        "data.train",
        {"path": "a.jsonl", "hub": "x/y"},
        "data.train: give exactly one of 'path', 'hub' or 'builtin'",
    ),
    ("data.train", {"hub": "x/y"}, "data.train: hub dataset 'x/y' needs a 'split' (e.g. split: train)"),
    (
        "data.train",
        {"path": "train.txt"},
        "data.train.path: unsupported file type '.txt' for 'train.txt' (use one of: .csv, .json, .jsonl, .parquet)",
    ),
    ("data.columns", {"querry": "q"}, "data.columns: unknown key 'querry'; did you mean 'query'?"),
    (
        "data.columns",
        {"relevant_ids": "ids"},
        "data.columns.relevant_ids needs data.corpus (the passage file)",
    ),
    ("data.dev_fraction", 0.7, "data.dev_fraction: Input should be less than 0.5 (got 0.7)"),
    (
        "fault_tolerance",
        {"heartbeat_interval": 60, "grace_period": 30},
        "fault_tolerance: grace_period (30) must be longer than heartbeat_interval (60)",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), BAD_CONFIGS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_CONFIGS)]
)
def test_bad_config_gives_one_line_naming_the_key(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with(key, value), source="study.yaml")
    text = str(info.value)
    assert text.startswith("study.yaml: ")
    assert message in text
    assert "\n" not in text


def test_valid_config_fills_defaults() -> None:
    config = parse_config(retrieval_config("some/model"), source="x")
    assert config.metric_name == "ndcg@10"
    assert config.direction == "maximize"
    assert config.search_space.warmup_ratio == FixedParam(value=0.1)
    assert config.fault_tolerance.max_retries == 2
    assert config.precision == "auto"


def test_pair_config_defaults_to_average_precision() -> None:
    raw = retrieval_config("m", objective="pair-classification")
    raw["search_space"]["loss"] = "OnlineContrastiveLoss"
    raw["data"] = {"train": {"path": "/data/train.jsonl"}}
    config = parse_config(raw, source="x")
    assert config.metric_name == "ap"
    assert get_task(config.objective).column_map(config.data) == {"text1": "text1", "text2": "text2", "label": "label"}


def test_stored_config_round_trips_through_json() -> None:
    config = parse_config(retrieval_config("m"), source="x")
    dumped = config.model_dump(mode="json")
    assert dumped["search_space"]["batch_size"] == 16
    assert parse_config(dumped, source="stored") == config


def test_relative_data_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    raw = retrieval_config("m")
    raw["data"] = {"train": {"path": "data/train.jsonl"}, "columns": {"positive": "answer"}}
    config = load_config(write_config(tmp_path, raw))
    assert config.data.train.path == str(tmp_path / "data" / "train.jsonl")


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: config file not found$"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("study_name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line 2, column 1: "):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(ConfigError, match=r"scalar.yaml: expected a mapping of keys at the top level, got str$"):
        load_config(scalar)
