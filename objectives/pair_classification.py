"""Pair classification: contrastive training on labelled pairs; score with AP, accuracy and F1.

Inputs:

====== ======== =================================================
role   required what it holds
====== ======== =================================================
text1  yes      the first text of the pair
text2  yes      the second text of the pair
label  yes      1 if the texts match (duplicates), else 0 (or true/false)
====== ======== =================================================

Each role reads the column of the same name unless ``data.columns`` maps it. Pairs that share a
text stay in one split. Other two-valued labels (yes/no, match/other) name their match value in
``data.positive_label``: it reads as 1, the other value as 0.

Losses: OnlineContrastiveLoss (``margin``), ContrastiveLoss (``margin``, ``size_average``).
Evaluator: sentence-transformers' BinaryClassificationEvaluator on cosine similarity (AP, accuracy,
F1, precision, recall, MCC), keeping each pair's score (:mod:`objectives.pair_classification_evaluator`).
"""

from __future__ import annotations

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
from hpo.stats.weighted_metrics import Array, WeightedMetric, average_precision, f1, mcc, mean, precision, recall
from hpo.training.task import PAIR_TEXTS, Column, Metrics, PairTask, Split

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator


class LabelledPairs(PairData):
    """Pairs labelled 0 or 1."""

    def summary(self) -> dict[str, Any]:
        return {
            "train_pairs": len(self.train),
            "train_positive_share": round(sum(self.train.labels) / max(1, len(self.train)), 3),
            "dev_pairs": len(self.dev),
        }


_MARGIN = {"margin": float}
_AT_LEAST = {"margin": 0.0}


class PairClassificationTask(PairTask[LabelledPairs]):
    label_role = "label"
    name = "pair-classification"
    columns = (*PAIR_TEXTS, Column("label", True, "1 if the pair matches (duplicate), else 0"))
    losses: ClassVar[Mapping[str, LossSpec]] = {
        "OnlineContrastiveLoss": LossSpec(
            "OnlineContrastiveLoss", _MARGIN, sentence_transformers_loss("OnlineContrastiveLoss"), _AT_LEAST
        ),
        "ContrastiveLoss": LossSpec(
            "ContrastiveLoss",
            {**_MARGIN, "size_average": bool},
            sentence_transformers_loss("ContrastiveLoss"),
            _AT_LEAST,
        ),
    }
    metrics = Metrics(
        pattern=re.compile(r"ap|accuracy|f1|precision|recall|mcc"),
        examples=("ap", "accuracy", "f1", "precision", "recall", "mcc"),
        default="ap",
        table=("ap", "accuracy", "f1"),
    )
    thresholds_from_dev = True
    data_settings = ("positive_label",)
    default_loss = "OnlineContrastiveLoss"
    default_loss_params: ClassVar[Mapping[str, Any]] = {"margin": 0.5}

    def load_data(self, config: StudyConfig, include_test: bool = False) -> LabelledPairs:
        columns = self.column_map(config.data)
        label = label_reader(config.data.positive_label)
        splits = load_pair_splits(config, columns, self.label_role, label, include_test, "both 0 and 1 are needed")
        return LabelledPairs(*splits)

    def pair_evaluator(self, pairs: PairSplit, split: Split, batch_size: int) -> BaseEvaluator:
        from objectives.pair_classification_evaluator import ItemBinaryClassificationEvaluator

        return ItemBinaryClassificationEvaluator(
            sentences1=pairs.text1,
            sentences2=pairs.text2,
            labels=[int(label) for label in pairs.labels],
            name=split,
            batch_size=batch_size,
            write_csv=False,
            similarity_fn_names=[self.score_function],
        )

    def item_rows(self, items: ItemScores, metric: str) -> tuple[WeightedMetric, Array]:
        """AP from (cosine, label) rows; the others from each pair's prediction at the kept threshold."""
        if items.similarity is None or items.gold is None:
            raise ValueError("no per-pair similarities were kept")
        if metric == "ap":
            return average_precision, np.column_stack([items.similarity, items.gold])
        # The evaluator reports precision, recall and MCC at the threshold that maximises F1.
        threshold = items.thresholds["accuracy" if metric == "accuracy" else "f1"]
        predicted = (items.similarity >= threshold).astype(np.float64)
        if metric == "accuracy":
            return mean, (predicted == items.gold).astype(np.float64)
        return _AT_THRESHOLD[metric], np.column_stack([predicted, items.gold])

    def with_dev_thresholds(
        self, metrics: Mapping[str, float], test_items: ItemScores, dev_items: ItemScores
    ) -> dict[str, float]:
        """Accuracy, F1, precision, recall and MCC on test at the thresholds the same model chose on dev."""
        at_dev = ItemScores(
            test_items.items, similarity=test_items.similarity, gold=test_items.gold, thresholds=dev_items.thresholds
        )
        result = dict(metrics)
        everything = np.ones((1, at_dev.n))
        for metric in ("accuracy", *_AT_THRESHOLD):
            key = self.metric_key(metrics, metric)
            function, rows = self.item_rows(at_dev, metric)
            result[key] = float(function(rows, everything)[0])
            if metric in dev_items.thresholds:
                result[f"{key}_threshold"] = dev_items.thresholds[metric]
        return result


_AT_THRESHOLD: dict[str, WeightedMetric] = {"f1": f1, "precision": precision, "recall": recall, "mcc": mcc}


def label_reader(positive: str | int | bool | None) -> LabelReader:
    """Reads a 0/1 (or boolean) label; with ``positive`` (data.positive_label), that value is 1 and any other 0."""

    def read(row: Row, index: int, where: str, field: Field) -> float:
        value = rows.value(row, index, where, field)
        if positive is not None:
            return int(_normal(value) == _normal(positive))
        if isinstance(value, bool) or value in (0, 1):
            return int(value)
        raise DataError(
            f"{where}: row {index}: column '{field.column}' (label) must be 0 or 1, got {value!r}"
            "; for other labels set data.positive_label to the value that means a match"
        )

    return read


def _normal(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


TASK = PairClassificationTask()
