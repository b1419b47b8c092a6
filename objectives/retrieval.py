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
a capped one (:mod:`hpo.data.corpus`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.config import CorpusSource, DataConfig, StudyConfig
from hpo.data import rows
from hpo.data.corpus import CapNegatives, capped_ids, capped_size
from hpo.data.rows import Field
from hpo.data.sources import Row, read_rows
from hpo.data.splits import carve, normalize, sample
from hpo.errors import DataError
from hpo.training.disk_cache import Memo, no_memo
from hpo.training.losses import LossSpec, sentence_transformers_loss
from hpo.training.mining import MiningInputs
from objectives.task import Column, Metrics, Split, Task

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator


@dataclass(frozen=True)
class RetrievalSplit:
    """Queries of one evaluation split and the corpus ids relevant to each."""

    queries: dict[str, str]
    relevant: dict[str, frozenset[str]]

    def relevant_ids(self) -> set[str]:
        return set().union(*self.relevant.values()) if self.relevant else set()


@dataclass(frozen=True)
class RetrievalData:
    """Training pairs (query, passage), the evaluation splits, and the shared passage pool."""

    train_pairs: list[tuple[str, str]]
    dev: RetrievalSplit
    corpus: dict[str, str]
    test: RetrievalSplit | None = None
    # For mined hard negatives: every corpus id known relevant to each training query (by its text),
    # and the ids relevant to any dev or test query, which never enter training when mining.
    train_relevant: Mapping[str, frozenset[str]] = field(default_factory=dict)
    dev_passages: frozenset[str] = frozenset()
    test_passages: frozenset[str] = frozenset()

    @property
    def has_test(self) -> bool:
        return self.test is not None

    def capped_corpus(
        self,
        split: RetrievalSplit,
        cap: int | None,
        seed: int,
        negatives: CapNegatives = "bm25",
        memo: Memo = no_memo,
    ) -> dict[str, str]:
        """The passages relevant to ``split`` plus others, ``cap`` in all (see :func:`capped_ids`).

        ``memo`` keeps the chosen ids (BM25 over the whole corpus) for every worker of the study.
        """

        def choose() -> list[str] | None:
            ids = capped_ids(self.corpus, split.queries.values(), split.relevant_ids(), cap, seed, negatives)
            return None if ids is None else sorted(ids)

        if cap is None or cap >= len(self.corpus):
            return self.corpus
        key = {"queries": sorted(split.queries), "cap": cap, "seed": seed, "negatives": negatives}
        chosen = memo("capped_corpus_ids", key, choose)
        if chosen is None:
            return self.corpus
        kept = set(chosen)
        return {cid: text for cid, text in self.corpus.items() if cid in kept}

    def capped_size(self, split: RetrievalSplit, cap: int | None) -> int:
        return capped_size(len(self.corpus), len(split.relevant_ids()), cap)

    def summary(self) -> dict[str, Any]:
        return {
            "train_pairs": len(self.train_pairs),
            "dev_queries": len(self.dev.queries),
            "corpus_passages": len(self.corpus),
        }

    def fingerprint_payload(self) -> Any:
        dev = [[qid, text, sorted(self.dev.relevant[qid])] for qid, text in self.dev.queries.items()]
        return {"train": self.train_pairs, "dev": dev, "corpus": sorted(self.corpus.items())}


@dataclass(frozen=True)
class _Query:
    qid: str
    text: str
    positive: str | None
    relevant_ids: tuple[str, ...]
    where: str  # the split and row, for errors about this query


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
    metrics = Metrics(
        pattern=re.compile(r"(ndcg|mrr|map|recall|precision|accuracy)@[1-9][0-9]*"),
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
        space = config.search_space
        triplet_losses = [name for name in space.loss if self.losses[name].negatives == "one"]
        if triplet_losses and "none" in space.hard_negatives.miners():
            raise ValueError(
                f"search_space.loss: {triplet_losses[0]} trains on mined negatives only; "
                "set search_space.hard_negatives.miner to bm25 or dense (not none)"
            )

    def column_map(self, data: DataConfig) -> dict[str, str]:
        """The required roles and the mapped ones. Without a corpus the passage text is required; with
        one, a row gives ``relevant_ids`` or a ``positive`` text; unmapped optional roles read their
        own column when a row has it (see ``_row_columns``)."""
        required = {"query": "query"} if data.corpus is not None else {"query": "query", "positive": "positive"}
        return {**required, **data.columns}

    def load_data(self, config: StudyConfig, include_test: bool = False) -> RetrievalData:
        columns = self.column_map(config.data)
        corpus = _read_corpus(config.data.corpus) if config.data.corpus is not None else None

        def parse(raw: list[Row], where: str) -> list[_Query]:
            return [_parse_query(row, i, where, columns, corpus) for i, row in enumerate(raw, 1)]

        splits = carve(config.data, config.seed, parse, lambda queries: [normalize(q.text) for q in queries])
        if corpus is not None:
            _resolve_positives(splits, corpus)
        if corpus is None:
            corpus = {}
            for query in (q for split in splits.values() for q in split):
                if query.positive is not None:
                    corpus.setdefault(rows.text_id(query.positive), query.positive)
        train_pairs = [
            (q.text, passage)
            for q in splits["train"]
            for passage in ([q.positive] if q.positive else [corpus[d] for d in q.relevant_ids])
        ]
        data = RetrievalData(
            train_pairs=sample(train_pairs, config.data.max_train_samples, config.seed),
            dev=_evaluation_split(sample(splits["dev"], config.data.max_dev_queries, config.seed)),
            corpus=corpus,
            test=_evaluation_split(sample(splits["test"], config.data.max_test_queries, config.seed))
            if include_test and splits["test"]
            else None,
            train_relevant=_relevant_by_query(splits["train"]),
            dev_passages=frozenset(cid for q in splits["dev"] for cid in _passage_ids(q)),
            test_passages=frozenset(cid for q in splits["test"] for cid in _passage_ids(q)),
        )
        rows.require(data.train_pairs, "train", "training pairs")
        rows.require(data.dev.queries, "dev", "queries")
        return data

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
        from hpo.training.item_evaluators import ItemRetrievalEvaluator

        queries = _split_of(data, split)
        cap = config.evaluation.corpus_cap if capped else None
        corpus = data.capped_corpus(queries, cap, config.seed, config.evaluation.cap_negatives, memo)
        kind = "capped" if len(corpus) < len(data.corpus) else "full"
        k = _metric_k(config.metric_name)
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


def _metric_k(metric: str) -> int:
    match = re.search(r"@(\d+)$", metric)
    return int(match.group(1)) if match else 10


def _row_columns(row: Row, index: int, where: str, columns: dict[str, str], with_corpus: bool) -> dict[str, str]:
    """``columns`` plus each unmapped optional role whose own column the row has (not null).

    With a corpus, a row's relevant passages are its ``relevant_ids``, else its ``positive`` text.
    """
    found = {**columns}
    # A column some rows of a file lack is read as null in the others: null is absent here.
    present = [role for role in ("query_id", "relevant_ids") if row.get(role) is not None and role not in columns]
    found.update({role: role for role in present if role != "relevant_ids" or with_corpus})
    if with_corpus and "relevant_ids" not in found and "positive" not in found and row.get("positive") is not None:
        found["positive"] = "positive"
    if with_corpus and "relevant_ids" not in found and "positive" not in found:
        raise DataError(
            f"{where}: row {index}: no relevant passage: give a column 'relevant_ids' (corpus ids) or 'positive' "
            f"(the passage text); columns are: {', '.join(map(str, row))} (or map one with data.columns)"
        )
    return found


def _resolve_positives(splits: dict[str, list[_Query]], corpus: dict[str, str]) -> None:
    """With a corpus, a query given by its positive text is relevant to that passage of the corpus
    (the same text), or to the text itself, which joins the corpus."""
    ids: dict[str, str] = {}
    for cid, text in corpus.items():
        ids.setdefault(text, cid)
    for queries in splits.values():
        for i, query in enumerate(queries):
            if query.relevant_ids or query.positive is None:
                continue
            if query.positive not in ids:
                ids[query.positive] = rows.text_id(query.positive)
                corpus.setdefault(ids[query.positive], query.positive)
            queries[i] = replace(query, relevant_ids=(ids[query.positive],))


def _parse_query(row: Row, index: int, where: str, columns: dict[str, str], corpus: dict[str, str] | None) -> _Query:
    columns = _row_columns(row, index, where, columns, corpus is not None)
    text = rows.text(row, index, where, Field.of("query", columns))
    positive = rows.text(row, index, where, Field.of("positive", columns)) if "positive" in columns else None
    relevant: tuple[str, ...] = ()
    if "relevant_ids" in columns and corpus is not None:
        relevant = _relevant_ids(row, index, where, Field.of("relevant_ids", columns), corpus)
    if "query_id" in columns:
        qid = rows.identifier(row, index, where, Field.of("query_id", columns))
    else:
        qid = rows.text_id(normalize(text))
    return _Query(qid=qid, text=text, positive=positive, relevant_ids=relevant, where=f"{where}: row {index}")


def _relevant_ids(row: Row, index: int, where: str, field: Field, corpus: dict[str, str]) -> tuple[str, ...]:
    value = rows.value(row, index, where, field)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise DataError(
            f"{where}: row {index}: column '{field.column}' (relevant_ids) must be a non-empty list of corpus ids"
        )
    ids = tuple(str(v) for v in value)
    for cid in ids:
        if cid not in corpus:
            raise DataError(f"{where}: row {index}: relevant id '{cid}' is not in data.corpus")
    return ids


def _passage_ids(query: _Query) -> tuple[str, ...]:
    """The corpus ids relevant to one query row (a passage given as text has its text's id)."""
    return query.relevant_ids or ((rows.text_id(query.positive),) if query.positive is not None else ())


def _relevant_by_query(queries: list[_Query]) -> dict[str, frozenset[str]]:
    """Each training query's text -> every corpus id relevant to it, over all its rows (same question, any case)."""
    relevant: dict[str, set[str]] = {}
    for q in queries:
        relevant.setdefault(normalize(q.text), set()).update(_passage_ids(q))
    return {q.text: frozenset(relevant[normalize(q.text)]) for q in queries}


def _evaluation_split(queries: list[_Query]) -> RetrievalSplit:
    """One query per id; the same question twice (same id or none given) is one query with both answers."""
    texts: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    qid_of: dict[str, str] = {}
    first_row: dict[str, str] = {}
    for q in queries:
        qid = qid_of.setdefault(normalize(q.text), q.qid)
        if q.qid in texts and normalize(texts[q.qid]) != normalize(q.text):
            raise DataError(
                f"{q.where}: query id '{q.qid}' is also the id of a different question ({first_row[q.qid]}); "
                "query ids must be unique"
            )
        texts.setdefault(qid, q.text)
        first_row.setdefault(qid, q.where.rsplit(": ", 1)[-1])
        if q.relevant_ids:
            relevant.setdefault(qid, set()).update(q.relevant_ids)
        elif q.positive is not None:
            relevant.setdefault(qid, set()).add(rows.text_id(q.positive))
    return RetrievalSplit(texts, {k: frozenset(v) for k, v in relevant.items()})


def _read_corpus(source: CorpusSource) -> dict[str, str]:
    where = f"data.corpus ({source.describe()})"
    id_field = Field("id", source.id_column, "data.corpus.id_column")
    text_field = Field("text", source.text_column, "data.corpus.text_column")
    corpus: dict[str, str] = {}
    for index, row in enumerate(read_rows(source, "data.corpus"), 1):
        cid = rows.identifier(row, index, where, id_field)
        if cid in corpus:
            raise DataError(f"{where}: row {index}: duplicate id '{cid}'")
        corpus[cid] = rows.text(row, index, where, text_field)
    return corpus


TASK = RetrievalTask()
