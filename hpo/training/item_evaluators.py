"""sentence-transformers' evaluators, keeping the score of each item from the same encoding.

Each evaluator here returns exactly the metrics of its parent class and, after every call, holds
``last_items``: an :class:`~hpo.item_scores.ItemScores` of that call, with what a paired bootstrap
needs. Nothing is encoded twice: the retrieval evaluator scores each query from the ranking its
parent already built, and the pair evaluators take each pair's similarity from the embeddings
their parent already computed.

Tasks import this module inside their ``evaluator`` methods (it imports sentence-transformers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
)
from sentence_transformers.util import pairwise_cos_sim

from hpo.item_scores import ItemScores, digest
from hpo.weighted_metrics import Array

_METRIC = re.compile(r"(ndcg|mrr|map|recall|precision|accuracy)@([1-9][0-9]*)")


class ItemRetrievalEvaluator(InformationRetrievalEvaluator):
    """The IR evaluator, plus each query's value of ``item_metrics`` (e.g. ``ndcg@10``) in ``last_items``."""

    def __init__(self, *args: Any, item_metrics: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item_metrics = tuple(dict.fromkeys(item_metrics))
        self.last_items: ItemScores | None = None
        self._per_function: list[dict[str, Array]] = []
        self._digest: str | None = None

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1, *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        self._per_function = []
        metrics: dict[str, float] = super().__call__(model, output_path, epoch, steps, *args, **kwargs)
        # compute_all_metrics scores the functions in this order, one compute_metrics call each.
        names = list(self.score_functions or {})
        main = self.main_score_function.value if self.main_score_function else names[0]
        scores = self._per_function[names.index(main) if main in names else 0]
        self.last_items = ItemScores(items=self.items_digest(), scores=scores)
        return metrics

    def compute_metrics(self, queries_result_list: list[object]) -> Any:
        self._per_function.append(self._per_query(queries_result_list))
        return super().compute_metrics(queries_result_list)

    def _per_query(self, results: list[Any]) -> dict[str, Array]:
        values: dict[str, list[float]] = {metric: [] for metric in self.item_metrics}
        for query_itr, hits in enumerate(results):
            ranked = [hit["corpus_id"] for hit in sorted(hits, key=lambda x: (-x["score"], x["corpus_id"]))]
            relevant = self.relevant_docs[self.queries_ids[query_itr]]
            for metric in self.item_metrics:
                values[metric].append(query_score(metric, ranked, relevant))
        return {metric: np.asarray(v, dtype=np.float64) for metric, v in values.items()}

    def items_digest(self) -> str:
        """What this evaluator scores: its queries, their relevant ids and the corpus."""
        if self._digest is None:
            self._digest = digest(
                {
                    "queries": [[qid, text] for qid, text in zip(self.queries_ids, self.queries, strict=True)],
                    "relevant": [sorted(self.relevant_docs[qid]) for qid in self.queries_ids],
                    "corpus": digest([[cid, text] for cid, text in zip(self.corpus_ids, self.corpus, strict=True)]),
                }
            )
        return self._digest


def query_score(metric: str, ranked: Sequence[str], relevant: set[str] | frozenset[str]) -> float:
    """One query's ``metric`` (``ndcg@10``, ``mrr@10``, ...) from its ranked corpus ids, as the IR evaluator has it."""
    match = _METRIC.fullmatch(metric)
    if match is None:
        raise ValueError(f"no per-query form of metric '{metric}'")
    name, k = match.group(1), int(match.group(2))
    hits = [1 if cid in relevant else 0 for cid in ranked[:k]]
    if name == "accuracy":
        return float(any(hits))
    if name == "precision":
        return sum(hits) / k
    if name == "recall":
        return sum(hits) / len(relevant)
    if name == "mrr":
        return next((1.0 / (rank + 1) for rank, hit in enumerate(hits) if hit), 0.0)
    if name == "ndcg":
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        return sum(hit / math.log2(i + 2) for i, hit in enumerate(hits)) / ideal
    correct, total = 0, 0.0  # map@k
    for rank, hit in enumerate(hits):
        if hit:
            correct += 1
            total += correct / (rank + 1)
    return total / min(k, len(relevant))


class _PairRows:
    """Records what a pair evaluator's ``embed_inputs`` returned, to take each pair's cosine from it."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], Any]] = []

    def add(self, sentences: Any, embeddings: Any) -> None:
        self.calls.append((list(sentences), embeddings))

    def cosine(self, sentences1: Sequence[Any], sentences2: Sequence[Any]) -> Array:
        if len(self.calls) == 1:  # one call on the unique texts of both sides
            texts, embeddings = self.calls[0]
            row = {text: i for i, text in enumerate(texts)}
            first = np.asarray(embeddings)[[row[s] for s in sentences1]]
            second = np.asarray(embeddings)[[row[s] for s in sentences2]]
        else:  # one call per side
            first, second = np.asarray(self.calls[0][1]), np.asarray(self.calls[1][1])
        import torch

        similarity: Array = pairwise_cos_sim(torch.from_numpy(first), torch.from_numpy(second)).double().numpy()
        return similarity


def _pair_digest(sentences1: Sequence[Any], sentences2: Sequence[Any], gold: Sequence[float]) -> str:
    return digest({"pairs": [[a, b, float(g)] for a, b, g in zip(sentences1, sentences2, gold, strict=True)]})


class _KeepsPairEmbeddings:
    """Mixed into a pair evaluator: keeps the embeddings its parent computes, to score each pair."""

    sentences1: Any  # set by the evaluator this is mixed into
    sentences2: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_items: ItemScores | None = None
        self._rows = _PairRows()

    def embed_inputs(self, model: Any, sentences: Any, **kwargs: Any) -> Any:
        embeddings = super().embed_inputs(model, sentences, **kwargs)  # type: ignore[misc]
        self._rows.add(sentences, embeddings)
        return embeddings

    def gold(self) -> Sequence[float]:
        raise NotImplementedError

    def items_digest(self) -> str:
        return _pair_digest(self.sentences1, self.sentences2, self.gold())


class ItemBinaryClassificationEvaluator(_KeepsPairEmbeddings, BinaryClassificationEvaluator):
    """The binary classification evaluator, plus each pair's cosine, its label and the chosen thresholds."""

    def gold(self) -> Sequence[float]:
        return [float(label) for label in self.labels]

    def compute_metrics(self, model: Any) -> dict[str, dict[str, float]]:
        self._rows = _PairRows()
        scores: dict[str, dict[str, float]] = super().compute_metrics(model)
        main = scores[self.similarity_fn_names[0]]
        self.last_items = ItemScores(
            items=self.items_digest(),
            similarity=self._rows.cosine(self.sentences1, self.sentences2),
            gold=np.asarray(self.labels, dtype=np.float64),
            thresholds={"accuracy": float(main["accuracy_threshold"]), "f1": float(main["f1_threshold"])},
        )
        return scores


class ItemSimilarityEvaluator(_KeepsPairEmbeddings, EmbeddingSimilarityEvaluator):
    """The embedding similarity evaluator, plus each pair's cosine and gold score."""

    def gold(self) -> Sequence[float]:
        return [float(score) for score in self.scores]

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        self._rows = _PairRows()
        metrics: dict[str, float] = super().__call__(model, output_path, epoch, steps)
        self.last_items = ItemScores(
            items=self.items_digest(),
            similarity=self._rows.cosine(self.sentences1, self.sentences2),
            gold=np.asarray(self.scores, dtype=np.float64),
        )
        return metrics
