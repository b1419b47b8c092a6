"""The core data readers: split carving and assignment, files of every format, the Hub, the fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.data.fingerprint import fingerprint
from hpo.data.splits import assign, pair_group_keys
from hpo.errors import DataError
from objectives.registry import get_task
from tests.helpers import jsonl, pair_rows, pairs_config, parsed, retrieval_config


def test_carved_splits_never_share_a_query() -> None:
    config = parsed(retrieval_config("m"))
    data = get_task("retrieval").load_data(config, include_test=True)
    assert data.test is not None
    train_queries = {q for q, _ in data.train_pairs}
    assert not train_queries & set(data.dev.queries.values())
    assert not train_queries & set(data.test.queries.values())
    assert not set(data.dev.queries.values()) & set(data.test.queries.values())


def test_loading_is_deterministic_and_test_split_is_not_fingerprinted() -> None:
    config = parsed(retrieval_config("m"))
    task = get_task("retrieval")
    first, second = task.load_data(config), task.load_data(config, include_test=True)
    assert fingerprint(first) == fingerprint(second)
    assert not first.has_test
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


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^data.train: file not found: .*nope.jsonl$"):
        get_task("pair-classification").load_data(parsed(pairs_config("m", str(tmp_path / "nope.jsonl"))))


def test_malformed_json_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text1": "a", "text2": "b", "label": 1}\n{not json\n')
    with pytest.raises(DataError, match=rf"^data.train: cannot read {path}: "):
        get_task("pair-classification").load_data(parsed(pairs_config("m", str(path))))


def test_csv_and_parquet_files_load_like_jsonl(tmp_path: Path) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    task = get_task("pair-classification")
    rows = pair_rows(80)
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("text1,text2,label\n" + "".join(f"{r['text1']},{r['text2']},{r['label']}\n" for r in rows))
    parquet_path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet_path)
    from_jsonl = task.load_data(parsed(pairs_config("m", jsonl(tmp_path / "train.jsonl", rows))))
    for path in (csv_path, parquet_path):
        assert fingerprint(task.load_data(parsed(pairs_config("m", str(path))))) == fingerprint(from_jsonl)


def test_unreachable_hub_dataset_is_a_clear_error() -> None:
    raw = retrieval_config("m")
    raw["data"] = {"train": {"hub": "no-such-owner/no-such-dataset", "split": "train"}}
    with pytest.raises(DataError) as info:
        get_task("retrieval").load_data(parsed(raw))
    message = str(info.value)
    assert message.startswith("data.train: cannot load Hub dataset no-such-owner/no-such-dataset:train: ")
    assert message.endswith(
        "(HF_HUB_OFFLINE=1 is set and it is not in the local cache; download it once with "
        "the Hub reachable, or point data.*.path at local files)"
    )
