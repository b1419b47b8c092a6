"""Turn a config's data section into validated :mod:`hpo.data.model` objects."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from hpo.config import CorpusSource, DataSource, StudyConfig
from hpo.data.model import PairData, PairSplit, RetrievalData, RetrievalSplit, StudyData
from hpo.data.sources import Row, read_rows
from hpo.data.splits import assign, normalize, pair_group_keys, sample
from hpo.errors import DataError

logger = logging.getLogger(__name__)
R = TypeVar("R")
SPLITS = ("train", "dev", "test")


def load_data(config: StudyConfig, include_test: bool = False) -> StudyData:
    """Load, validate and split the study's data; the test split only when ``include_test``."""
    if config.objective == "retrieval":
        return _load_retrieval(config, include_test)
    return _load_pairs(config, include_test)


@dataclass(frozen=True)
class _Query:
    qid: str
    text: str
    positive: str | None
    relevant_ids: tuple[str, ...]


def _load_retrieval(config: StudyConfig, include_test: bool) -> RetrievalData:
    columns = config.column_map()
    corpus = _read_corpus(config.data.corpus) if config.data.corpus is not None else None

    def parse(rows: list[Row], where: str) -> list[_Query]:
        return [_parse_query(row, i, where, columns, corpus) for i, row in enumerate(rows, 1)]

    splits = _split(config, parse, key=lambda q: normalize(q.text))
    if corpus is None:
        corpus = {}
        for query in (q for split in splits.values() for q in split):
            assert query.positive is not None  # config requires positive without a corpus
            corpus.setdefault(_text_id(query.positive), query.positive)

    def evaluation_split(queries: list[_Query]) -> RetrievalSplit:
        texts: dict[str, str] = {}
        relevant: dict[str, set[str]] = {}
        qid_of: dict[str, str] = {}
        for q in queries:  # the same question twice is one query with both answers
            qid = qid_of.setdefault(normalize(q.text), q.qid)
            texts.setdefault(qid, q.text)
            if q.relevant_ids:
                relevant.setdefault(qid, set()).update(q.relevant_ids)
            elif q.positive is not None:
                relevant.setdefault(qid, set()).add(_text_id(q.positive))
        return RetrievalSplit(texts, {k: frozenset(v) for k, v in relevant.items()})

    dev_queries = sample(splits["dev"], config.data.max_dev_queries, config.seed)
    train_pairs = [
        (q.text, passage)
        for q in splits["train"]
        for passage in ([q.positive] if q.positive else [corpus[d] for d in q.relevant_ids])
    ]
    data = RetrievalData(
        train_pairs=sample(train_pairs, config.data.max_train_samples, config.seed),
        dev=evaluation_split(dev_queries),
        corpus=corpus,
        test=evaluation_split(splits["test"]) if include_test and splits["test"] else None,
    )
    _require(data.train_pairs, "train", "training pairs")
    _require(data.dev.queries, "dev", "queries")
    return data


def _parse_query(row: Row, index: int, where: str, columns: dict[str, str], corpus: dict[str, str] | None) -> _Query:
    text = _text(row, index, where, columns["query"], "query")
    positive = _text(row, index, where, columns["positive"], "positive") if "positive" in columns else None
    relevant: tuple[str, ...] = ()
    if "relevant_ids" in columns and corpus is not None:
        relevant = _relevant_ids(row, index, where, columns["relevant_ids"], corpus)
    qid = str(row[columns["query_id"]]) if "query_id" in columns else _text_id(normalize(text))
    return _Query(qid=qid, text=text, positive=positive, relevant_ids=relevant)


def _relevant_ids(row: Row, index: int, where: str, column: str, corpus: dict[str, str]) -> tuple[str, ...]:
    value = _value(row, index, where, column, "relevant_ids")
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise DataError(
            f"{where}: row {index}: column '{column}' (relevant_ids) must be a non-empty list of corpus ids"
        )
    ids = tuple(str(v) for v in value)
    for cid in ids:
        if cid not in corpus:
            raise DataError(f"{where}: row {index}: relevant id '{cid}' is not in data.corpus")
    return ids


def _load_pairs(config: StudyConfig, include_test: bool) -> PairData:
    columns = config.column_map()

    def parse(rows: list[Row], where: str) -> list[tuple[str, str, int]]:
        return [
            (
                _text(row, i, where, columns["text1"], "text1"),
                _text(row, i, where, columns["text2"], "text2"),
                _label(row, i, where, columns["label"]),
            )
            for i, row in enumerate(rows, 1)
        ]

    splits = _split(config, parse, group_keys=lambda rows: pair_group_keys([(a, b) for a, b, _ in rows]))

    def to_split(rows: list[tuple[str, str, int]]) -> PairSplit:
        return PairSplit([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    data = PairData(
        train=to_split(sample(splits["train"], config.data.max_train_samples, config.seed)),
        dev=to_split(sample(splits["dev"], config.data.max_dev_queries, config.seed)),
        test=to_split(splits["test"]) if include_test and splits["test"] else None,
    )
    for name, split in (("train", data.train), ("dev", data.dev)):
        _require(split.labels, name, "pairs")
        if len(set(split.labels)) < 2:
            raise DataError(
                f"data.{name}: all {len(split)} pairs have label {split.labels[0]}; both 0 and 1 are needed"
            )
    return data


def _split(
    config: StudyConfig,
    parse: Callable[[list[Row], str], list[R]],
    key: Callable[[R], str] | None = None,
    group_keys: Callable[[list[R]], list[str]] | None = None,
) -> dict[str, list[R]]:
    """Read every configured split; carve dev/test from train where they are not given."""
    sources: dict[str, DataSource | None] = {
        "train": config.data.train,
        "dev": config.data.dev,
        "test": config.data.test,
    }
    records = {
        name: parse(_read(source, name), f"data.{name} ({source.describe()})")
        for name, source in sources.items()
        if source is not None
    }

    def keys_of(rows: list[R]) -> list[str]:
        return group_keys(rows) if group_keys is not None else [key(r) for r in rows]  # type: ignore[misc]

    fractions = {
        "dev": config.data.dev_fraction if config.data.dev is None else 0.0,
        "test": config.data.test_fraction if config.data.test is None else 0.0,
    }
    out: dict[str, list[R]] = {name: [] for name in SPLITS}
    for name in ("dev", "test"):
        out[name] = list(records.get(name, []))
    held_out = {k for name in ("dev", "test") if name in records for k in keys_of(records[name])}
    leaked = 0
    for row, k in zip(records["train"], keys_of(records["train"]), strict=True):
        if k in held_out:
            leaked += 1
            continue
        out[assign(k, config.seed, fractions["dev"], fractions["test"])].append(row)
    if leaked:
        logger.warning("dropped %d training rows whose text also occurs in the dev or test split", leaked)
    return out


def _read(source: DataSource, name: str) -> list[Row]:
    return read_rows(source, f"data.{name}")


def _read_corpus(source: CorpusSource) -> dict[str, str]:
    where = f"data.corpus ({source.describe()})"
    corpus: dict[str, str] = {}
    for index, row in enumerate(read_rows(source, "data.corpus"), 1):
        cid = str(_value(row, index, where, source.id_column, "id"))
        text = _text(row, index, where, source.text_column, "text")
        if cid in corpus:
            raise DataError(f"{where}: row {index}: duplicate id '{cid}'")
        corpus[cid] = text
    return corpus


def _value(row: Row, index: int, where: str, column: str, role: str) -> Any:
    if column not in row:
        raise DataError(
            f"{where}: column '{column}' ({role}) not found; columns are: {', '.join(map(str, row))}"
            f" (map it with data.columns.{role})"
        )
    value = row[column]
    if value is None:
        raise DataError(f"{where}: row {index}: column '{column}' ({role}) is empty")
    return value


def _text(row: Row, index: int, where: str, column: str, role: str) -> str:
    value = _value(row, index, where, column, role)
    if not isinstance(value, str):
        raise DataError(f"{where}: row {index}: column '{column}' ({role}) must be text, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: row {index}: column '{column}' ({role}) is empty")
    return value


def _label(row: Row, index: int, where: str, column: str) -> int:
    value = _value(row, index, where, column, "label")
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise DataError(f"{where}: row {index}: column '{column}' (label) must be 0 or 1, got {value!r}")


def _require(items: Iterable[Any], split: str, what: str) -> None:
    if not list(items):
        raise DataError(f"data.{split}: no {what} left after splitting; give more rows or set data.{split}")


def _text_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]
