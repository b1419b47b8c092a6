"""Retrieval: train on (query, relevant passage) pairs with in-batch negatives; score with IR metrics.

Inputs:

=============== =================================== ==============================================
role            required                            what it holds
=============== =================================== ==============================================
query           yes                                 the question text
positive        without ``data.corpus``             the text of a passage relevant to the query
relevant_ids    with ``data.corpus``                a list of the corpus ids relevant to the query
query_id        no (default: a hash of the query)   a stable id of the query
=============== =================================== ==============================================

Each role reads the column of the same name unless ``data.columns`` maps it. With a corpus
(``data.corpus``: id and text columns), a query trains against every relevant passage.

Losses: MultipleNegativesRankingLoss (``scale``), CachedMultipleNegativesRankingLoss (``scale``,
``mini_batch_size``), MultipleNegativesSymmetricRankingLoss (``scale``), and TripletLoss
(``triplet_margin``; mined negatives only). With ``search_space.hard_negatives`` the rows gain
mined negative columns (:mod:`hpo.training.mining`). Evaluator: sentence-transformers'
InformationRetrievalEvaluator (NDCG@k, MRR@k, MAP@k, recall@k, ...), on the whole passage pool or
a capped one (:mod:`hpo.data.corpus`), keeping each query's score.

The task owns three helper modules: :mod:`objectives.retrieval_data` (reading the queries and the
corpus), :mod:`objectives.retrieval_metrics` (the metric names and each query's value) and
:mod:`objectives.retrieval_evaluator` (the evaluator; it imports sentence-transformers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.settings.config import DataConfig, StudyConfig
from hpo.settings.losses import LossSpec, sentence_transformers_loss
from hpo.training.disk_cache import Memo, no_memo
from hpo.training.mining import MiningInputs
from hpo.training.task import Column, Metrics, Split, Task
from objectives.retrieval_data import RetrievalData, RetrievalSplit, read_retrieval_data
from objectives.retrieval_metrics import IR_METRIC, metric_k

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

__all__ = ["TASK", "RetrievalData", "RetrievalTask"]  # RetrievalData: the data this task loads

_SCALE = {"scale": float}


class RetrievalTask(Task[RetrievalData]):
    name = "retrieval"
    columns = (
        Column("query", True, "the question text"),
        Column("positive", False, "a relevant passage text"),
        Column("relevant_ids", False, "list of corpus ids relevant to the query (needs data.corpus)"),
        Column("query_id", False, "a stable id of the query"),
    )
    losses: ClassVar[Mapping[str, LossSpec]] = {
        "MultipleNegativesRankingLoss": LossSpec(
            "MultipleNegativesRankingLoss", _SCALE, sentence_transformers_loss("MultipleNegativesRankingLoss")
        ),
        "CachedMultipleNegativesRankingLoss": LossSpec(
            "CachedMultipleNegativesRankingLoss",
            {**_SCALE, "mini_batch_size": int},
            sentence_transformers_loss("CachedMultipleNegativesRankingLoss"),
            at_least={"mini_batch_size": 1},
        ),
        # The standalone class is deprecated in sentence-transformers 6; this is its documented equivalent.
        "MultipleNegativesSymmetricRankingLoss": LossSpec(
            "MultipleNegativesSymmetricRankingLoss",
            _SCALE,
            sentence_transformers_loss(
                "MultipleNegativesRankingLoss",
                directions=("query_to_doc", "doc_to_query"),
                partition_mode="per_direction",
            ),
        ),
        # (anchor, positive, negative) triplets: needs mined negatives, one row per negative.
        "TripletLoss": LossSpec(
            "TripletLoss", {"triplet_margin": float}, sentence_transformers_loss("TripletLoss"), negatives="one"
        ),
    }
    default_loss = "MultipleNegativesRankingLoss"
    default_loss_params: ClassVar[Mapping[str, Any]] = {"scale": 20.0}
    metrics = Metrics(
        pattern=IR_METRIC,
        examples=("ndcg@10", "mrr@10", "map@100", "recall@10", "accuracy@1"),
        default="ndcg@10",
        table=("ndcg@10", "mrr@10"),
    )
    batch_sampler = "no_duplicates"
    mines_negatives = True

    def check_config(self, config: StudyConfig) -> None:
        super().check_config(config)
        if "relevant_ids" in config.data.columns and config.data.corpus is None:
            raise ValueError("data.columns.relevant_ids needs data.corpus (the passage file)")

    def column_map(self, data: DataConfig) -> dict[str, str]:
        """The required roles and the mapped ones. Without a corpus the passage text is required; with
        one, a row gives ``relevant_ids`` or a ``positive`` text; unmapped optional roles read their
        own column when a row has it (see :mod:`objectives.retrieval_data`)."""
        required = {"query": "query"} if data.corpus is not None else {"query": "query", "positive": "positive"}
        return {**required, **data.columns}

    def load_data(self, config: StudyConfig, include_test: bool = False) -> RetrievalData:
        return read_retrieval_data(config, self.column_map(config.data), include_test)

    def with_dev_in_training(self, data: RetrievalData) -> RetrievalData:
        dev_pairs = [
            (text, data.corpus[cid]) for qid, text in data.dev.queries.items() for cid in sorted(data.dev.relevant[qid])
        ]
        relevant = dict(data.train_relevant)
        for qid, text in data.dev.queries.items():
            relevant[text] = relevant.get(text, frozenset()) | data.dev.relevant[qid]
        pairs = data.train_pairs + dev_pairs
        return replace(data, train_pairs=pairs, train_relevant=relevant, dev_passages=frozenset())

    def mining_inputs(self, data: RetrievalData) -> MiningInputs:
        held_out = frozenset(data.corpus[cid] for cid in data.dev_passages | data.test_passages if cid in data.corpus)
        relevant = {
            query: frozenset(data.corpus[cid] for cid in ids if cid in data.corpus)
            for query, ids in data.train_relevant.items()
        }
        corpus = [text for text in data.corpus.values() if text not in held_out]
        return MiningInputs(pairs=data.train_pairs, relevant=relevant, corpus=corpus, held_out=held_out)

    def train_dataset(self, data: RetrievalData) -> Any:
        from datasets import Dataset

        return Dataset.from_dict(
            {"anchor": [q for q, _ in data.train_pairs], "positive": [p for _, p in data.train_pairs]}
        )

    def evaluator(
        self, data: RetrievalData, config: StudyConfig, split: Split, capped: bool, memo: Memo = no_memo
    ) -> tuple[BaseEvaluator, str]:
        from objectives.retrieval_evaluator import ItemRetrievalEvaluator

        queries = _split_of(data, split)
        cap = config.evaluation.corpus_cap if capped else None
        corpus = data.capped_corpus(queries, cap, config.seed, config.evaluation.cap_negatives, memo)
        kind = "capped" if len(corpus) < len(data.corpus) else "full"
        k = metric_k(config.metric_name)
        evaluator = ItemRetrievalEvaluator(
            item_metrics=(config.metric_name, *self.metrics.table),
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
        return evaluator, f"{kind} ({len(corpus)} of {len(data.corpus)} passages, {len(queries.queries)} queries)"

    def evaluation_texts(self, data: RetrievalData, split: Split) -> list[str]:
        return [*_split_of(data, split).queries.values(), *data.corpus.values()]

    def caps_corpus(self, data: RetrievalData, config: StudyConfig, split: Split) -> bool:
        if config.evaluation.corpus_cap is None:
            return False
        return data.capped_size(_split_of(data, split), config.evaluation.corpus_cap) < len(data.corpus)


def _split_of(data: RetrievalData, split: Split) -> RetrievalSplit:
    queries = data.dev if split == "dev" else data.test
    if queries is None:
        raise ValueError(f"the {split} split was not loaded")
    return queries


TASK = RetrievalTask()
