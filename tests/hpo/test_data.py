from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hpo.config import parse_config
from hpo.data import PairData, RetrievalData, load_data
from hpo.data.model import fingerprint
from hpo.data.splits import assign, pair_group_keys
from hpo.errors import DataError
from tests.conftest import SHARED_DATA, retrieval_config


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _pairs_config(train: str, **data: Any) -> Any:
    raw = retrieval_config("m", objective="pair-classification")
    raw["search_space"]["loss"] = "OnlineContrastiveLoss"
    raw["data"] = {"train": {"path": train}, **data}
    return parse_config(raw, source="x")


def _retrieval_config(train: str, **data: Any) -> Any:
    raw = retrieval_config("m")
    raw["data"] = {"train": {"path": train}, **data}
    return parse_config(raw, source="x")


def _pair_rows(n: int) -> list[dict[str, Any]]:
    return [{"text1": f"question {i}", "text2": f"other question {i}", "label": i % 2} for i in range(n)]


def test_carved_splits_never_share_a_query() -> None:
    config = parse_config(retrieval_config("m"), source="x")
    data = load_data(config, include_test=True)
    assert isinstance(data, RetrievalData)
    assert data.test is not None
    train_queries = {q for q, _ in data.train_pairs}
    assert not train_queries & set(data.dev.queries.values())
    assert not train_queries & set(data.test.queries.values())
    assert not set(data.dev.queries.values()) & set(data.test.queries.values())


def test_loading_is_deterministic_and_test_split_is_not_fingerprinted() -> None:
    config = parse_config(retrieval_config("m"), source="x")
    first, second = load_data(config), load_data(config, include_test=True)
    assert fingerprint(first) == fingerprint(second)
    assert first.test is None
    assert fingerprint(first).startswith("sha256:")


def test_split_assignment_is_stable_and_proportional() -> None:
    assert assign("what is a tarfile?", 42, 0.1, 0.1) == assign("what is a tarfile?", 42, 0.1, 0.1)
    counts = {"train": 0, "dev": 0, "test": 0}
    for i in range(5000):
        counts[assign(f"key {i}", 7, 0.2, 0.1)] += 1
    assert 400 < counts["test"] < 600 and 900 < counts["dev"] < 1100


def test_pairs_sharing_a_text_share_a_group() -> None:
    keys = pair_group_keys([("A", "B"), ("C", "D"), ("b", "E"), ("F", "G")])
    assert keys[0] == keys[2] != keys[1]
    assert len({keys[1], keys[3], keys[0]}) == 3


def test_capped_corpus_keeps_every_relevant_passage() -> None:
    config = parse_config(retrieval_config("m"), source="x")
    data = load_data(config)
    assert isinstance(data, RetrievalData)
    capped = data.capped_corpus(data.dev, 50, seed=1)
    relevant = set().union(*data.dev.relevant.values())
    assert relevant <= set(capped)
    assert len(capped) == max(50, len(relevant))
    assert capped == data.capped_corpus(data.dev, 50, seed=1)


def test_pair_labels_and_dev_carving(tmp_path: Path) -> None:
    data = load_data(_pairs_config(_jsonl(tmp_path / "t.jsonl", _pair_rows(200)), dev_fraction=0.3))
    assert isinstance(data, PairData)
    assert len(data.train) + len(data.dev) < 200  # the rest went to the carved test split
    assert set(data.dev.labels) == {0, 1}


BAD_DATA = [
    (
        [{"text1": "a", "label": 1}],
        {},
        "data.train ({path}): column 'text2' (text2) not found; columns are: text1, label "
        "(map it with data.columns.text2)",
    ),
    (
        [{"text1": "a", "text2": "  ", "label": 1}],
        {},
        "data.train ({path}): row 1: column 'text2' (text2) is empty",
    ),
    (
        [{"text1": "a", "text2": "b", "label": "yes"}],
        {},
        "data.train ({path}): row 1: column 'label' (label) must be 0 or 1, got 'yes'",
    ),
    (
        [{"text1": "a", "text2": "b", "label": 2}],
        {},
        "data.train ({path}): row 1: column 'label' (label) must be 0 or 1, got 2",
    ),
    (
        [{"text1": 5, "text2": "b", "label": 1}],
        {},
        "data.train ({path}): row 1: column 'text1' (text1) must be text, got int",
    ),
]


@pytest.mark.parametrize(("rows", "data", "message"), BAD_DATA)
def test_bad_pair_rows_name_file_row_and_column(
    tmp_path: Path, rows: list[dict[str, Any]], data: dict[str, Any], message: str
) -> None:
    path = _jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError) as info:
        load_data(_pairs_config(path, **data))
    assert str(info.value) == message.format(path=path)


def test_single_label_split_is_rejected(tmp_path: Path) -> None:
    rows = [{"text1": f"q {i}", "text2": f"p {i}", "label": 1} for i in range(50)]
    with pytest.raises(DataError, match=r"^data.train: all \d+ pairs have label 1; both 0 and 1 are needed$"):
        load_data(_pairs_config(_jsonl(tmp_path / "t.jsonl", rows)))


def test_missing_file_and_unknown_relevant_id(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^data.train: file not found: .*nope.jsonl$"):
        load_data(_pairs_config(str(tmp_path / "nope.jsonl")))
    train = _jsonl(tmp_path / "q.jsonl", [{"query": "what?", "ids": ["d1", "d9"]}])
    corpus = _jsonl(tmp_path / "corpus.jsonl", [{"id": "d1", "text": "an answer"}])
    config = _retrieval_config(train, corpus={"path": corpus}, columns={"relevant_ids": "ids"})
    with pytest.raises(DataError) as info:
        load_data(config)
    assert str(info.value) == f"data.train ({train}): row 1: relevant id 'd9' is not in data.corpus"


def test_malformed_json_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text1": "a", "text2": "b", "label": 1}\n{not json\n')
    with pytest.raises(DataError, match=rf"^data.train: cannot read {path}: "):
        load_data(_pairs_config(str(path)))


@pytest.mark.skipif(not (SHARED_DATA / "bioasq").is_dir(), reason="../shared/data/bioasq is absent")
def test_bioasq_with_corpus_and_given_splits() -> None:
    root = SHARED_DATA / "bioasq"
    config = _retrieval_config(
        str(root / "train.jsonl"),
        dev={"path": str(root / "dev.jsonl")},
        test={"path": str(root / "test.jsonl")},
        corpus={"path": str(root / "corpus.jsonl")},
        columns={"relevant_ids": "relevant_ids", "positive": "positive", "query_id": "id"},
    )
    data = load_data(config, include_test=True)
    assert isinstance(data, RetrievalData) and data.test is not None
    assert data.summary() == {"train_pairs": 2042, "dev_queries": 279, "corpus_passages": 18687}
    assert len(data.test.queries) == 324


def test_csv_and_parquet_files_load_like_jsonl(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _pair_rows(80)
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("text1,text2,label\n" + "".join(f"{r['text1']},{r['text2']},{r['label']}\n" for r in rows))
    parquet_path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet_path)
    jsonl = load_data(_pairs_config(_jsonl(tmp_path / "train.jsonl", rows)))
    for path in (csv_path, parquet_path):
        assert fingerprint(load_data(_pairs_config(str(path)))) == fingerprint(jsonl)


def test_unreachable_hub_dataset_is_a_clear_error() -> None:
    raw = retrieval_config("m")
    raw["data"] = {"train": {"hub": "no-such-owner/no-such-dataset", "split": "train"}}
    with pytest.raises(DataError) as info:
        load_data(parse_config(raw, source="x"))
    message = str(info.value)
    assert message.startswith("data.train: cannot load Hub dataset no-such-owner/no-such-dataset:train: ")
    assert message.endswith(
        "(HF_HUB_OFFLINE=1 is set and it is not in the local cache; download it once with "
        "the Hub reachable, or point data.*.path at local files)"
    )
