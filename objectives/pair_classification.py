"""Pair classification: contrastive training on labelled pairs; score with AP, accuracy and F1.

Data needs: ``PairData`` (text1, text2 and a 0/1 label per pair). The evaluator is
sentence-transformers' BinaryClassificationEvaluator on cosine similarity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from objectives.base import Objective

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    from hpo.config import StudyConfig
    from hpo.data import StudyData


class PairClassificationObjective(Objective):
    name = "pair-classification"

    def train_dataset(self, data: StudyData) -> Any:
        from datasets import Dataset

        from hpo.data import PairData

        assert isinstance(data, PairData)
        return Dataset.from_dict(
            {"sentence1": data.train.text1, "sentence2": data.train.text2, "label": data.train.labels}
        )

    def evaluator(self, data: StudyData, config: StudyConfig, split: str, capped: bool) -> tuple[BaseEvaluator, str]:
        from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator

        from hpo.data import PairData

        assert isinstance(data, PairData)
        pairs = data.dev if split == "dev" else data.test
        if pairs is None:
            raise ValueError(f"the {split} split was not loaded")
        evaluator = BinaryClassificationEvaluator(
            sentences1=pairs.text1,
            sentences2=pairs.text2,
            labels=pairs.labels,
            name=split,
            batch_size=config.evaluation.batch_size,
            write_csv=False,
            similarity_fn_names=[self.score_function],
        )
        return evaluator, f"{len(pairs)} {split} pairs"


OBJECTIVE = PairClassificationObjective()
