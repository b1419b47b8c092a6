"""Each task's evaluator keeps every item's score: the same metrics as sentence-transformers, from one encoding."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpo.store.config_file import parse_config
from objectives.registry import get_task
from objectives.retrieval_metrics import query_score
from tests.helpers import jsonl, load_data, pair_rows, pairs_config, retrieval_config

ALL_RETRIEVAL = ("ndcg@10", "mrr@10", "map@100", "recall@10", "precision@3", "accuracy@1", "accuracy@5")


def _model(tiny_model: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(tiny_model, device="cpu")


def test_query_score_follows_the_ir_evaluator() -> None:
    ranked, relevant = ["a", "b", "c"], {"b", "d"}
    assert query_score("ndcg@2", ranked, relevant) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert query_score("mrr@10", ranked, relevant) == 0.5
    assert query_score("recall@10", ranked, relevant) == 0.5
    assert query_score("precision@2", ranked, relevant) == 0.5
    assert query_score("accuracy@1", ranked, relevant) == 0.0
    assert query_score("map@10", ranked, relevant) == 0.25
    with pytest.raises(ValueError, match="no per-query form of metric 'f1'"):
        query_score("f1", ranked, relevant)


def test_per_query_scores_average_to_the_evaluator_metrics(tiny_model: str) -> None:
    config = parse_config(retrieval_config(tiny_model), source="x")
    task = get_task("retrieval")
    evaluator: Any
    evaluator, _ = task.evaluator(load_data(config, include_test=True), config, "test", capped=False)
    evaluator.item_metrics = ALL_RETRIEVAL
    metrics: dict[str, float] = evaluator(_model(tiny_model))
    items = evaluator.last_items
    assert items is not None and items.items == evaluator.items_digest()
    for metric in ALL_RETRIEVAL:
        assert items.scores[metric].mean() == pytest.approx(metrics[task.metric_key(metrics, metric)], abs=1e-12)
    assert items.n == len(evaluator.queries_ids)


def test_pair_thresholds_applied_to_their_own_split_reproduce_the_metrics(tiny_model: str, tmp_path: Path) -> None:
    config = parse_config(pairs_config(tiny_model, jsonl(tmp_path / "p.jsonl", pair_rows(400))), source="x")
    task = get_task("pair-classification")
    evaluator: Any
    evaluator, _ = task.evaluator(load_data(config), config, "dev", capped=False)
    metrics: dict[str, float] = evaluator(_model(tiny_model))
    items = evaluator.last_items
    assert items is not None and items.similarity is not None and len(items.similarity) == len(evaluator.labels)
    again = task.with_dev_thresholds(metrics, items, items)
    for metric in ("accuracy", "f1", "precision", "recall", "mcc", "ap"):
        key = task.metric_key(metrics, metric)
        assert again[key] == pytest.approx(metrics[key], abs=1e-9), metric
    function, rows = task.item_rows(items, "ap")
    assert function(rows, np.ones((1, len(rows))))[0] == pytest.approx(metrics["dev_cosine_ap"], abs=1e-9)


def test_similarity_pairs_give_the_evaluator_correlations(tiny_model: str, tmp_path: Path) -> None:
    rows = [{"text1": f"question {i}", "text2": f"other question {i % 9}", "score": (i % 5) / 4} for i in range(300)]
    raw = pairs_config(tiny_model, jsonl(tmp_path / "s.jsonl", rows))
    raw["objective"] = "similarity"
    raw["search_space"]["loss"] = "CoSENTLoss"
    config = parse_config(raw, source="x")
    task = get_task("similarity")
    evaluator: Any
    evaluator, _ = task.evaluator(load_data(config), config, "dev", capped=False)
    metrics: dict[str, float] = evaluator(_model(tiny_model))
    items = evaluator.last_items
    assert items is not None
    for metric in ("spearman", "pearson"):
        function, values = task.item_rows(items, metric)
        assert function(values, np.ones((1, len(values))))[0] == pytest.approx(
            metrics[task.metric_key(metrics, metric)], abs=1e-6
        )
