"""Similarity's evaluator: sentence-transformers' embedding similarity evaluator, keeping each pair's score.

:meth:`~objectives.similarity.SimilarityTask.pair_evaluator` imports this module inside the method
(it imports sentence-transformers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

from hpo.training.item_evaluators import KeepsPairEmbeddings


class ItemSimilarityEvaluator(KeepsPairEmbeddings, EmbeddingSimilarityEvaluator):
    """The embedding similarity evaluator, plus each pair's cosine and gold score."""

    def gold(self) -> Sequence[float]:
        return [float(score) for score in self.scores]

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        self.forget_embeddings()
        metrics: dict[str, float] = super().__call__(model, output_path, epoch, steps)
        self.last_items = self.pair_items()
        return metrics
