"""Matryoshka dimensions: the loss is wrapped, every evaluation scores each dimension, the value is the chosen one."""

from __future__ import annotations

from typing import Any

import pytest

from hpo.settings.config import StudyConfig
from hpo.training.document_memo import DocumentMemo
from hpo.training.matryoshka import MatryoshkaEvaluator, dimension_key, metrics_by_dimension
from hpo.training.models import load_model
from hpo.training.result import NullReporter
from hpo.training.run import train_trial
from objectives.registry import get_task
from tests.helpers import load_data, parsed, retrieval_config


def _config(model: str, dims: Any, value_dim: int | None = None) -> StudyConfig:
    raw = retrieval_config(model)
    raw["search_space"]["matryoshka_dims"] = dims
    if value_dim is not None:
        raw["evaluation"]["matryoshka_dim"] = value_dim
    return parsed(raw)


def test_each_dimension_scores_as_a_truncating_evaluator_would(tiny_model: str) -> None:
    config = _config(tiny_model, [32, 16], value_dim=32)
    data = load_data(config)
    task = get_task("retrieval")
    model = load_model(tiny_model, "cpu", 48, False)
    inner: Any = task.evaluator(data, config, "dev", capped=False)[0]
    metrics = MatryoshkaEvaluator(inner, [32, 16], 32)(model)
    by_dim = metrics_by_dimension(metrics)
    assert list(by_dim) == [64, 32, 16]
    for dim in (64, 32, 16):
        reference: Any = task.evaluator(data, config, "dev", capped=False)[0]
        reference.truncate_dim = None if dim == 64 else dim
        assert by_dim[dim] == pytest.approx(reference(model), abs=1e-6)
    # The value's keys are the wrapped evaluator's own, at the configured dimension.
    assert metrics["dev_cosine_ndcg@10"] == by_dim[32]["dev_cosine_ndcg@10"]
    assert metrics[dimension_key("dev_cosine_ndcg@10", 16)] == by_dim[16]["dev_cosine_ndcg@10"]
    assert inner.truncate_dim is None


def test_texts_are_encoded_once_for_all_dimensions(tiny_model: str) -> None:
    config = _config(tiny_model, [32, 16, 8])
    data = load_data(config)
    model = load_model(tiny_model, "cpu", 48, False)
    inner, _ = get_task("retrieval").evaluator(data, config, "dev", capped=False)
    with DocumentMemo(model) as memo:  # counts what reaches the model's own document encoder
        MatryoshkaEvaluator(inner, [32, 16, 8], None)(model)
        assert memo.reused == 0
        assert len(memo.rows) == len(data.corpus)
    assert "encode_document" not in model.__dict__  # every wrapper removed


def test_a_run_records_every_dimension_and_takes_its_value_at_the_configured_one(tiny_model: str) -> None:
    config = _config(tiny_model, {"type": "categorical", "choices": [[32, 16], []]}, value_dim=16)
    data = load_data(config)
    params = config.search_space.resolve(
        {"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3, "matryoshka_dims": "32,16"}
    )
    assert params.matryoshka_dims == [32, 16]
    result = train_trial(get_task("retrieval"), params, data, config, NullReporter())
    assert list(result.dimensions) == [64, 32, 16]
    assert result.value == result.dimensions[16] == result.metrics["dev_cosine_ndcg@10_dim16"]
    assert result.user_attrs()["dimension_metrics"] == {str(d): v for d, v in result.dimensions.items()}
    # Without Matryoshka training the same dimensions are still scored (truncating the plain model).
    plain = params.model_copy(update={"matryoshka_dims": []})
    result = train_trial(get_task("retrieval"), plain, data, config, NullReporter())
    assert list(result.dimensions) == [64, 32, 16]


def test_a_dimension_above_the_models_fails_the_run(tiny_model: str) -> None:
    from hpo.errors import TrialError

    config = _config(tiny_model, [32])
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    too_big = params.model_copy(update={"matryoshka_dims": [128, 32]})
    with pytest.raises(
        TrialError, match=rf"^matryoshka_dims: 128 exceeds the embedding dimension of {tiny_model} \(64\)$"
    ):
        train_trial(get_task("retrieval"), too_big, load_data(config), config, NullReporter())
