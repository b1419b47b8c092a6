from __future__ import annotations

from typing import Any

import torch

from hpo.config import StudyConfig
from hpo.config_file import parse_config
from hpo.training.result import NullReporter
from hpo.training.run import run_training
from hpo.training.run_cache import RunCache
from objectives.registry import get_task
from objectives.task import Task
from tests.helpers import load_data, retrieval_config


def _setup(tiny_model: str) -> tuple[StudyConfig, Any, Task[Any]]:
    config = parse_config(retrieval_config(tiny_model), source="x")
    data = load_data(config)
    return config, data, get_task("retrieval")


def test_runs_from_one_cache_match_runs_without_it(tiny_model: str) -> None:
    config, data, objective = _setup(tiny_model)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    cache = RunCache(objective, data, config)
    cached = [run_training(objective, params, data, config, NullReporter(), cache=cache)[0] for _ in range(2)]
    fresh, _ = run_training(objective, params, data, config, NullReporter())
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
