"""Pair classification: contrastive training on labelled pairs; score with AP, accuracy and F1.

Inputs:

====== ======== =================================================
role   required what it holds
====== ======== =================================================
text1  yes      the first text of the pair
text2  yes      the second text of the pair
label  yes      1 if the texts match (duplicates), else 0
====== ======== =================================================

Each role reads the column of the same name unless ``data.columns`` maps it. Pairs that share a
text stay in one split.

Losses: OnlineContrastiveLoss (``margin``), ContrastiveLoss (``margin``, ``size_average``).
Evaluator: sentence-transformers' BinaryClassificationEvaluator on cosine similarity (AP, accuracy,
F1, precision, recall, MCC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.config import StudyConfig
from hpo.data import rows
from hpo.data.pairs import PairData, load_pair_splits
from hpo.data.rows import Field
from hpo.data.sources import Row
from hpo.errors import DataError
from hpo.training.disk_cache import Memo, no_memo
from hpo.training.losses import LossSpec, sentence_transformers_loss
from objectives.task import Column, Metrics, Split, Task

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


class PairClassificationTask(Task[LabelledPairs]):
    name = "pair-classification"
    columns = (
        Column("text1", True, "first text of the pair"),
        Column("text2", True, "second text of the pair"),
        Column("label", True, "1 if the pair matches (duplicate), else 0"),
    )
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

    def load_data(self, config: StudyConfig, include_test: bool = False) -> LabelledPairs:
        columns = self.column_map(config.data)
        splits = load_pair_splits(config, columns, "label", _label, include_test, "both 0 and 1 are needed")
        return LabelledPairs(*splits)

    def with_dev_in_training(self, data: LabelledPairs) -> LabelledPairs:
        return data.with_dev_in_training()

    def train_dataset(self, data: LabelledPairs) -> Any:
        return data.train.to_dataset("label")

    def evaluator(
        self, data: LabelledPairs, config: StudyConfig, split: Split, capped: bool, memo: Memo = no_memo
    ) -> tuple[BaseEvaluator, str]:
        from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator

        pairs = data.evaluation_split(split)
        evaluator = BinaryClassificationEvaluator(
            sentences1=pairs.text1,
            sentences2=pairs.text2,
            labels=[int(label) for label in pairs.labels],
            name=split,
            batch_size=config.evaluation.batch_size,
            write_csv=False,
            similarity_fn_names=[self.score_function],
        )
        return evaluator, f"{len(pairs)} {split} pairs"

    def evaluation_texts(self, data: LabelledPairs, split: Split) -> list[str]:
        pairs = data.evaluation_split(split)
        return [*pairs.text1, *pairs.text2]


def _label(row: Row, index: int, where: str, field: Field) -> float:
    value = rows.value(row, index, where, field)
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise DataError(f"{where}: row {index}: column '{field.column}' (label) must be 0 or 1, got {value!r}")


TASK = PairClassificationTask()
