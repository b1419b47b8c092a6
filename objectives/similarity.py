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
text stay in one split. Scores on another scale (e.g. STS's 0-5) are rescaled to [0, 1] from
``data.score_range`` ([0, 5]).

Losses: CoSENTLoss (``scale``), AnglELoss (``scale``), CosineSimilarityLoss (no parameters).
Evaluator: sentence-transformers' EmbeddingSimilarityEvaluator on cosine similarity; metrics
``spearman`` (default) and ``pearson``, the correlation of the model's similarities with the
scores; it keeps each pair's score (:mod:`objectives.similarity_evaluator`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hpo.data import rows
from hpo.data.pairs import LabelReader, PairData, PairSplit, load_pair_splits
from hpo.data.rows import Field
from hpo.data.sources import Row
from hpo.errors import DataError
from hpo.settings.config import StudyConfig
from hpo.settings.losses import LossSpec, sentence_transformers_loss
from hpo.stats.item_scores import ItemScores
from hpo.stats.weighted_metrics import Array, WeightedMetric, pearson, spearman
from hpo.training.task import PAIR_TEXTS, Column, Metrics, PairTask, Split

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

_SCALE = {"scale": float}


class SimilarityTask(PairTask[PairData]):
    label_role = "score"
    name = "similarity"
    columns = (*PAIR_TEXTS, Column("score", True, "similarity of the two texts, in [0, 1] (or data.score_range)"))
    losses: ClassVar[Mapping[str, LossSpec]] = {
        "CoSENTLoss": LossSpec("CoSENTLoss", _SCALE, sentence_transformers_loss("CoSENTLoss")),
        "AnglELoss": LossSpec("AnglELoss", _SCALE, sentence_transformers_loss("AnglELoss")),
        "CosineSimilarityLoss": LossSpec(
            "CosineSimilarityLoss", {}, sentence_transformers_loss("CosineSimilarityLoss")
        ),
    }
    default_loss = "CoSENTLoss"
    data_settings = ("score_range",)
    default_loss_params: ClassVar[Mapping[str, Any]] = {"scale": 20.0}
    metrics = Metrics(
        pattern=re.compile(r"spearman|pearson"),
        examples=("spearman", "pearson"),
        default="spearman",
        table=("spearman", "pearson"),
    )

    def load_data(self, config: StudyConfig, include_test: bool = False) -> PairData:
        columns = self.column_map(config.data)
        score = score_reader(config.data.score_range)
        return PairData(*load_pair_splits(config, columns, self.label_role, score, include_test, "scores must vary"))

    def pair_evaluator(self, pairs: PairSplit, split: Split, batch_size: int) -> BaseEvaluator:
        from objectives.similarity_evaluator import ItemSimilarityEvaluator

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


def score_reader(score_range: tuple[float, float] | None) -> LabelReader:
    """Reads a score in ``score_range`` (default [0, 1]) and rescales it to [0, 1]."""
    low, high = score_range or (0.0, 1.0)
    hint = "" if score_range else "; for another scale set data.score_range, e.g. [0, 5], and it is rescaled"

    def read(row: Row, index: int, where: str, field: Field) -> float:
        value = rows.value(row, index, where, field)
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
        if not number or not low <= value <= high:
            raise DataError(
                f"{where}: row {index}: column '{field.column}' (score) must be a number in [{low:g}, {high:g}], "
                f"got {value!r}{hint}"
            )
        return (float(value) - low) / (high - low)

    return read


TASK = SimilarityTask()
