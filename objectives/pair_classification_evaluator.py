"""Pair classification's evaluator: sentence-transformers' binary classification evaluator, keeping each pair's score.

:meth:`~objectives.pair_classification.PairClassificationTask.pair_evaluator` imports this module
inside the method (it imports sentence-transformers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator

from hpo.training.item_evaluators import KeepsPairEmbeddings


class ItemBinaryClassificationEvaluator(KeepsPairEmbeddings, BinaryClassificationEvaluator):
    """The binary classification evaluator, plus each pair's cosine, its label and the chosen thresholds."""

    def gold(self) -> Sequence[float]:
        return [float(label) for label in self.labels]

    def compute_metrics(self, model: Any) -> dict[str, dict[str, float]]:
        self.forget_embeddings()
        scores: dict[str, dict[str, float]] = super().compute_metrics(model)
        main = scores[self.similarity_fn_names[0]]
        thresholds = {"accuracy": float(main["accuracy_threshold"]), "f1": float(main["f1_threshold"])}
        self.last_items = self.pair_items(thresholds)
        return scores
