"""Retrieval: train on (anchor, positive) pairs with in-batch negatives; score with IR metrics.

Data needs: ``RetrievalData`` (train pairs; dev/test queries with relevant corpus ids; the corpus).
The evaluator is sentence-transformers' InformationRetrievalEvaluator (NDCG@k, MRR@k, MAP, recall@k).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from objectives.base import Objective

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    from hpo.config import StudyConfig
    from hpo.data import StudyData


class RetrievalObjective(Objective):
    name = "retrieval"

    def train_dataset(self, data: StudyData) -> Any:
        from datasets import Dataset

        from hpo.data import RetrievalData

        assert isinstance(data, RetrievalData)
        return Dataset.from_dict(
            {"anchor": [q for q, _ in data.train_pairs], "positive": [p for _, p in data.train_pairs]}
        )

    def evaluator(self, data: StudyData, config: StudyConfig, split: str, capped: bool) -> tuple[BaseEvaluator, str]:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

        from hpo.data import RetrievalData

        assert isinstance(data, RetrievalData)
        queries = data.dev if split == "dev" else data.test
        if queries is None:
            raise ValueError(f"the {split} split was not loaded")
        cap = config.evaluation.corpus_cap if capped else None
        corpus = data.capped_corpus(queries, cap, config.seed, config.evaluation.cap_negatives)
        kind = "capped" if len(corpus) < len(data.corpus) else "full"
        k = _metric_k(config.metric_name)
        evaluator = InformationRetrievalEvaluator(
            queries=dict[str, Any](queries.queries),
            corpus=dict[str, Any](corpus),
            relevant_docs={qid: set(ids) for qid, ids in queries.relevant.items()},
            mrr_at_k=sorted({10, k}),
            ndcg_at_k=sorted({10, k}),
            accuracy_at_k=sorted({1, 3, 5, 10, k}),
            precision_recall_at_k=sorted({1, 3, 5, 10, k}),
            map_at_k=sorted({100, k}),
            batch_size=config.evaluation.batch_size,
            name=split,
            write_csv=False,
            main_score_function=self.score_function,
        )
        return (
            evaluator,
            f"{kind} ({len(corpus)} of {len(data.corpus)} passages, {len(queries.queries)} queries)",
        )

    def caps_corpus(self, data: StudyData, config: StudyConfig, split: str) -> bool:
        from hpo.data import RetrievalData

        assert isinstance(data, RetrievalData)
        queries = data.dev if split == "dev" else data.test
        if queries is None or config.evaluation.corpus_cap is None:
            return False
        return data.capped_size(queries, config.evaluation.corpus_cap) < len(data.corpus)


def _metric_k(metric: str) -> int:
    match = re.search(r"@(\d+)$", metric)
    return int(match.group(1)) if match else 10


OBJECTIVE = RetrievalObjective()
