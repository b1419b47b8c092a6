"""Retrieval: loading queries, passages and relevance; the capped corpus; data integrity errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.errors import DataError, TrialError
from objectives.retrieval import TASK
from tests.helpers import SHARED_DATA, jsonl, parsed, retrieval_config, training_params


def _config(train: str, **data: Any) -> Any:
    raw = retrieval_config("m")
    raw["data"] = {"train": {"path": train}, **data}
    return parsed(raw)


def test_capped_corpus_keeps_every_relevant_passage() -> None:
    data = TASK.load_data(parsed(retrieval_config("m")))
    capped = data.capped_corpus(data.dev, 50, seed=1)
    relevant = set().union(*data.dev.relevant.values())
    assert relevant <= set(capped)
    assert len(capped) == max(50, len(relevant))
    assert capped == data.capped_corpus(data.dev, 50, seed=1)


def test_unknown_relevant_id(tmp_path: Path) -> None:
    train = jsonl(tmp_path / "q.jsonl", [{"query": "what?", "ids": ["d1", "d9"]}])
    corpus = jsonl(tmp_path / "corpus.jsonl", [{"id": "d1", "text": "an answer"}])
    with pytest.raises(DataError) as info:
        TASK.load_data(_config(train, corpus={"path": corpus}, columns={"relevant_ids": "ids"}))
    assert str(info.value) == f"data.train ({train}): row 1: relevant id 'd9' is not in data.corpus"


def test_relevant_ids_default_to_their_own_column_with_a_corpus(tmp_path: Path) -> None:
    rows = [{"query": f"question {i}?", "relevant_ids": [f"d{i}"]} for i in range(40)]
    corpus = jsonl(tmp_path / "corpus.jsonl", [{"id": f"d{i}", "text": f"answer {i}"} for i in range(40)])
    data = TASK.load_data(_config(jsonl(tmp_path / "q.jsonl", rows), corpus={"path": corpus}))
    assert len(data.train_pairs) + len(data.dev.queries) <= 40 and data.dev.queries


def test_two_questions_sharing_an_id_are_refused(tmp_path: Path) -> None:
    rows = [{"query": f"question {i}?", "positive": f"answer {i}", "qid": f"q{i}"} for i in range(30)]
    rows.append({"query": "a different question?", "positive": "another answer", "qid": "q3"})
    dev = jsonl(tmp_path / "dev.jsonl", rows)
    train = [{"query": f"training question {i}?", "positive": f"answer {i}", "qid": f"t{i}"} for i in range(5)]
    config = _config(jsonl(tmp_path / "t.jsonl", train), dev={"path": dev}, columns={"query_id": "qid"})
    with pytest.raises(DataError) as info:
        TASK.load_data(config)
    assert str(info.value) == (
        f"data.dev ({dev}): row 31: query id 'q3' is also the id of a different question (row 4); "
        "query ids must be unique"
    )


@pytest.mark.parametrize(
    ("qid", "message"),
    [
        (None, "row 2: column 'qid' (query_id) is empty"),
        ([1], "row 2: column 'qid' (query_id) must be a non-empty text or whole number, got [1]"),
    ],
)
def test_bad_query_ids(tmp_path: Path, qid: Any, message: str) -> None:
    rows = [{"query": "q one?", "positive": "p", "qid": "a"}, {"query": "q two?", "positive": "p", "qid": qid}]
    train = jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(DataError) as info:
        TASK.load_data(_config(train, columns={"query_id": "qid"}))
    assert str(info.value) == f"data.train ({train}): {message}"


def test_id_column_missing_from_one_file(tmp_path: Path) -> None:
    train = jsonl(tmp_path / "t.jsonl", [{"query": "q?", "positive": "p", "qid": "a"}])
    dev = jsonl(tmp_path / "d.jsonl", [{"query": "d?", "positive": "p"}])
    with pytest.raises(DataError) as info:
        TASK.load_data(_config(train, dev={"path": dev}, columns={"query_id": "qid"}))
    assert str(info.value) == (
        f"data.dev ({dev}): column 'qid' (query_id) not found; columns are: query, positive "
        "(map it with data.columns.query_id)"
    )


@pytest.mark.parametrize(
    ("train_row", "corpus_row", "message"),
    [
        (  # the hint names the corpus key, not data.columns
            {"query": "q?", "relevant_ids": ["d1"]},
            {"id": "d1", "passage": "p"},
            "data.corpus ({corpus}): column 'text' (text) not found; columns are: id, passage "
            "(map it with data.corpus.text_column)",
        ),
        (
            {"query": "what?", "answer": "d1"},
            {"id": "d1", "text": "an answer"},
            "data.train ({train}): row 1: no relevant passage: give a column 'relevant_ids' (corpus ids) or "
            "'positive' (the passage text); columns are: query, answer (or map one with data.columns)",
        ),
    ],
)
def test_a_corpus_study_refuses_rows_it_cannot_join(
    tmp_path: Path, train_row: dict[str, Any], corpus_row: dict[str, Any], message: str
) -> None:
    train = jsonl(tmp_path / "t.jsonl", [train_row])
    corpus = jsonl(tmp_path / "c.jsonl", [corpus_row])
    with pytest.raises(DataError) as info:
        TASK.load_data(_config(train, corpus={"path": corpus}))
    assert str(info.value) == message.format(train=train, corpus=corpus)


@pytest.mark.skipif(not (SHARED_DATA / "bioasq").is_dir(), reason="../shared/data/bioasq is absent")
def test_bioasq_with_corpus_and_given_splits() -> None:
    root = SHARED_DATA / "bioasq"
    config = _config(
        str(root / "train.jsonl"),
        dev={"path": str(root / "dev.jsonl")},
        test={"path": str(root / "test.jsonl")},
        corpus={"path": str(root / "corpus.jsonl")},
        columns={"relevant_ids": "relevant_ids", "positive": "positive", "query_id": "id"},
    )
    data = TASK.load_data(config, include_test=True)
    assert data.test is not None
    assert data.summary() == {"train_pairs": 2042, "dev_queries": 279, "corpus_passages": 18687}
    assert len(data.test.queries) == 324


def test_with_a_corpus_a_role_reads_its_own_column_and_a_positive_text_is_enough(tmp_path: Path) -> None:
    corpus = jsonl(tmp_path / "corpus.jsonl", [{"id": f"d{i}", "text": f"answer number {i}"} for i in range(40)])
    # No data.columns: positive (a text of the corpus, or a new one), query_id and relevant_ids by their names.
    rows: list[dict[str, Any]] = [
        {"query": f"question {i}?", "positive": f"answer number {i}", "query_id": f"q{i}"} for i in range(30)
    ]
    rows += [{"query": f"new question {i}?", "positive": f"a passage not in the corpus {i}"} for i in range(10)]
    rows += [{"query": f"listed question {i}?", "relevant_ids": [f"d{i}", f"d{i + 1}"]} for i in range(10)]
    data = TASK.load_data(_config(jsonl(tmp_path / "q.jsonl", rows), corpus={"path": corpus}))
    assert len(data.corpus) == 50  # the 40 passages and the 10 new texts
    every = {**data.dev.relevant, **{qid: ids for qid, ids in (data.test.relevant.items() if data.test else [])}}
    assert {qid for qid in data.dev.queries if qid.startswith("q")} <= set(every)
    for qid, text in data.dev.queries.items():
        if qid.startswith("q"):
            assert every[qid] == frozenset({f"d{qid[1:]}"}), text  # the corpus id of the same text
    assert set(data.corpus.values()) >= {f"a passage not in the corpus {i}" for i in range(10)}


def test_a_run_asks_the_task_what_it_accepts() -> None:
    TASK.check_run(training_params())
    with pytest.raises(TrialError, match=r"^TripletLoss trains on mined negatives only; give hard_negatives a miner$"):
        TASK.check_run(training_params(loss="TripletLoss", loss_params={"triplet_margin": 0.5}))
    cached = training_params(loss="CachedMultipleNegativesRankingLoss", loss_params={"mini_batch_size": 0})
    with pytest.raises(TrialError, match=r"^loss_params.mini_batch_size: 0 is not allowed \(needs >= 1\)$"):
        TASK.check_run(cached)
