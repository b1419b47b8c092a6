"""Retrieval's evaluator: sentence-transformers' IR evaluator, keeping each query's score.

:meth:`~objectives.retrieval.RetrievalTask.evaluator` imports this module inside the method (it
imports sentence-transformers). Nothing is encoded twice: each query is scored from the ranking
the parent class already built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from hpo.stats.item_scores import ItemScores, digest
from hpo.stats.weighted_metrics import Array
from objectives.retrieval_metrics import query_score


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
