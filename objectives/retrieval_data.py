"""Retrieval's data: queries with their relevant passages, read, checked and split; the passage pool.

:class:`~objectives.retrieval.RetrievalTask` reads its data through :func:`read_retrieval_data`
(the roles are documented in its module). With a corpus (``data.corpus``: id and text columns), a
query trains against every relevant passage; without one, the passage pool is every positive text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hpo.data import rows
from hpo.data.corpus import CapNegatives, capped_ids, capped_size
from hpo.data.rows import Field
from hpo.data.sources import Row, read_rows
from hpo.data.splits import carve, normalize, sample
from hpo.errors import DataError
from hpo.settings.config import CorpusSource, StudyConfig
from hpo.training.disk_cache import Memo, no_memo


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

    def train_size(self) -> int:
        return len(self.train_pairs)

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


def read_retrieval_data(config: StudyConfig, columns: dict[str, str], include_test: bool) -> RetrievalData:
    """Read, validate and split the queries (``columns``: role -> column) and the passage pool."""
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
