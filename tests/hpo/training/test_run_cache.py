from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hpo.settings.config import StudyConfig
from hpo.store.config_file import parse_config
from hpo.training.disk_cache import DiskCache
from hpo.training.result import NullReporter
from hpo.training.run import train_trial
from hpo.training.run_cache import RunCache
from hpo.training.task import Task
from objectives.registry import get_task
from tests.helpers import load_data, retrieval_config


def _setup(tiny_model: str) -> tuple[StudyConfig, Any, Task[Any]]:
    config = parse_config(retrieval_config(tiny_model), source="x")
    data = load_data(config)
    return config, data, get_task("retrieval")


def test_runs_from_one_cache_match_runs_without_it(tiny_model: str) -> None:
    config, data, objective = _setup(tiny_model)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    cache = RunCache(objective, data, config)
    cached = [train_trial(objective, params, data, config, NullReporter(), cache=cache) for _ in range(2)]
    fresh = train_trial(objective, params, data, config, NullReporter())
    # each run trains its own copy: the base weights stay as read, so every run starts alike
    assert cached[0].value == cached[1].value == fresh.value
    assert cached[0].intermediate == fresh.intermediate
    stats = cache.token_stats()
    assert stats["reused"] > stats["tokenized"] > 0


def test_cache_keeps_base_weights_and_builds_evaluators_once(tiny_model: str) -> None:
    config, data, objective = _setup(tiny_model)
    cache = RunCache(objective, data, config)
    first = cache.model(tiny_model, "cpu", 32)
    before = {k: v.clone() for k, v in first.state_dict().items()}
    with torch.no_grad():
        for p in first.parameters():
            p.add_(1.0)
    second = cache.model(tiny_model, "cpu", None)
    assert all(torch.equal(before[k], v) for k, v in second.state_dict().items())
    assert first.max_seq_length == 32 and second.max_seq_length != 32
    assert cache.evaluator("dev", capped=True) is cache.evaluator("dev", capped=True)
    assert cache.train_dataset() is cache.train_dataset()


def test_a_second_cache_on_the_same_disk_tokenizes_nothing(tiny_model: str, tmp_path: Path) -> None:
    config, data, objective = _setup(tiny_model)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    first = RunCache(objective, data, config, DiskCache(tmp_path))
    cold = train_trial(objective, params, data, config, NullReporter(), cache=first)
    assert first.token_stats()["tokenized"] > 0
    kinds = sorted(p.name for p in tmp_path.iterdir())
    assert kinds == ["capped_corpus_ids", "token_table"]
    second = RunCache(objective, data, config, DiskCache(tmp_path))  # another worker on the machine
    warm = train_trial(objective, params, data, config, NullReporter(), cache=second)
    assert second.token_stats()["tokenized"] == 0 and second.token_stats()["reused"] > 0
    assert warm.value == cold.value and warm.intermediate == cold.intermediate
    assert warm.eval_corpus == cold.eval_corpus


def test_an_unwritable_disk_cache_only_costs_speed(tiny_model: str, tmp_path: Path) -> None:
    config, data, objective = _setup(tiny_model)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = RunCache(objective, data, config, DiskCache(blocked / "cache"))
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    result = train_trial(objective, params, data, config, NullReporter(), cache=cache)
    fresh = train_trial(objective, params, data, config, NullReporter())
    assert result.value == fresh.value
