"""Similarity scoring: train on text pairs with a graded score; score with Spearman and Pearson.

Inputs:

====== ======== ==========================================================
role   required what it holds
====== ======== ==========================================================
text1  yes      the first text of the pair
text2  yes      the second text of the pair
score  yes      how similar the texts are, a number in [0, 1] (1: same meaning)
====== ======== ==========================================================

Each role reads the column of the same name unless ``data.columns`` maps it. Pairs that share a
text stay in one split. Rescale other ranges (e.g. STS's 0-5) to [0, 1] before use.

Losses: CoSENTLoss (``scale``), AnglELoss (``scale``), CosineSimilarityLoss (no parameters).
Evaluator: sentence-transformers' EmbeddingSimilarityEvaluator on cosine similarity; metrics
``spearman`` (default) and ``pearson``, the correlation of the model's similarities with the
scores.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hpo.config import StudyConfig
from hpo.data import rows
from hpo.data.pairs import PairData, PairSplit, load_pair_splits
from hpo.data.rows import Field
from hpo.data.sources import Row
from hpo.errors import DataError
from hpo.item_scores import ItemScores
from hpo.training.losses import LossSpec, sentence_transformers_loss
from hpo.weighted_metrics import Array, WeightedMetric, pearson, spearman
from objectives.task import PAIR_TEXTS, Column, Metrics, PairTask, Split

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

_SCALE = {"scale": float}


class SimilarityTask(PairTask[PairData]):
    label_role = "score"
    name = "similarity"
    columns = (*PAIR_TEXTS, Column("score", True, "similarity of the two texts, in [0, 1]"))
    losses: ClassVar[Mapping[str, LossSpec]] = {
        "CoSENTLoss": LossSpec("CoSENTLoss", _SCALE, sentence_transformers_loss("CoSENTLoss")),
        "AnglELoss": LossSpec("AnglELoss", _SCALE, sentence_transformers_loss("AnglELoss")),
        "CosineSimilarityLoss": LossSpec(
            "CosineSimilarityLoss", {}, sentence_transformers_loss("CosineSimilarityLoss")
        ),
    }
    metrics = Metrics(
        pattern=re.compile(r"spearman|pearson"),
        examples=("spearman", "pearson"),
        default="spearman",
        table=("spearman", "pearson"),
    )

    def load_data(self, config: StudyConfig, include_test: bool = False) -> PairData:
        columns = self.column_map(config.data)
        return PairData(*load_pair_splits(config, columns, self.label_role, _score, include_test, "scores must vary"))

    def pair_evaluator(self, pairs: PairSplit, split: Split, batch_size: int) -> BaseEvaluator:
        from hpo.training.item_evaluators import ItemSimilarityEvaluator

        return ItemSimilarityEvaluator(
            sentences1=pairs.text1,
            sentences2=pairs.text2,
            scores=pairs.labels,
            batch_size=batch_size,
            main_similarity=self.score_function,
            similarity_fn_names=[self.score_function],
            name=split,
            write_csv=False,
        )

    def metric_key(self, metrics: Mapping[str, float], metric: str) -> str:
        """EmbeddingSimilarityEvaluator names its keys ``<split>_<metric>_<score function>``."""
        matches = [k for k in metrics if k.endswith(f"_{metric}_{self.score_function}")]
        if len(matches) != 1:
            raise KeyError(f"metric '{metric}' not among the evaluator's keys: {sorted(metrics)}")
        return matches[0]

    def item_rows(self, items: ItemScores, metric: str) -> tuple[WeightedMetric, Array]:
        """Spearman or Pearson from each pair's (cosine, gold score) row."""
        if items.similarity is None or items.gold is None:
            raise ValueError("no per-pair similarities were kept")
        return {"spearman": spearman, "pearson": pearson}[metric], np.column_stack([items.similarity, items.gold])


def _score(row: Row, index: int, where: str, field: Field) -> float:
    value = rows.value(row, index, where, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0 or math.isnan(value):
        raise DataError(
            f"{where}: row {index}: column '{field.column}' (score) must be a number in [0, 1], got {value!r}"
        )
    return float(value)


TASK = SimilarityTask()
