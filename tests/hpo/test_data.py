"""The core data readers: split carving and assignment, files of every format, the Hub, the fingerprint."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hpo.data.fingerprint import fingerprint
from hpo.data.splits import assign, pair_group_keys
from hpo.errors import DataError
from objectives.registry import get_task
from tests.helpers import invoke, jsonl, pair_rows, pairs_config, parsed, retrieval_config, retrieval_rows, write_config


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
    with pytest.raises(DataError) as raised:
        get_task("pair-classification").load_data(parsed(pairs_config("m", str(path))))
    assert str(raised.value) == (
        f"data.train ({path}): line 2 is not valid JSON: Expecting property name enclosed in double quotes at column 2"
    )


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


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "a.jsonl",
            b'{"t": "a"}\n{"t": "caf\xe9"}\n',
            "line 2 is not UTF-8 text (byte 0xe9 at column 11); save the file as UTF-8",
        ),
        ("a.csv", b"t,u\na,b\ncaf\xe9,b\n", "line 3 is not UTF-8 text (byte 0xe9 at column 4); save the file as UTF-8"),
        (
            "a.jsonl",
            b'{"t": "a"}\n{"t": "b',
            "line 2 is not valid JSON: Unterminated string starting at column 7 (the file looks cut short)",
        ),
        ("a.jsonl", b'{"t": "a"}\n[1, 2]\n', "line 2 is a JSON list, not an object of column values"),
        ("a.csv", b't,u\na,b\n"cut,b', "line 3: a quoted field is never closed (the file looks cut short)"),
        ("a.csv", b"t,u\na,b\na,b,c\n", "line 3 has 3 fields where the header has 2"),
        ("a.jsonl", '{"t": "a\u2028b"}\n\n{"t": "c"}\r\n'.encode(), None),  # a line break inside a string, a blank line
        ("a.json", b'[\n{"t": "a"},\n{"t": "b"}\n]\n', None),  # one JSON document
        ("a.json", b'[{"t": "a"}, {"t": "b"}]', None),  # the same on one line, as json.dump writes it
        ("a.csv", b't,u\n"multi\nline",b\nc,\n', None),
    ],
)
def test_text_files_name_the_line_and_the_problem(
    tmp_path: Path, name: str, content: bytes, problem: str | None
) -> None:
    from hpo.data.text_files import encoding_problem, structure_problem

    path = tmp_path / name
    path.write_bytes(content)
    fmt = "csv" if name.endswith(".csv") else "json"
    assert (encoding_problem(path) or structure_problem(path, fmt)) == problem


# --- Training rows repeated by a given dev or test split (leaks): which split, how many, said once ---


def test_a_test_split_that_repeats_every_training_pair_names_itself_and_the_fix(tmp_path: Path) -> None:
    rows = pair_rows(40)
    train, test = jsonl(tmp_path / "train.jsonl", rows), jsonl(tmp_path / "test.jsonl", rows[::-1])
    with pytest.raises(DataError) as info:
        get_task("pair-classification").load_data(parsed(pairs_config("m", train, test={"path": test})))
    assert str(info.value) == (
        f"data.train ({train}): all 40 rows also occur in data.test ({test}), so none is left to train on; "
        "give a data.test without the training rows, or remove data.test to carve that split from train"
    )


def test_dev_and_test_splits_that_share_every_training_query_are_both_named(tmp_path: Path) -> None:
    rows = retrieval_rows(30)
    train = jsonl(tmp_path / "train.jsonl", rows)
    dev, test = jsonl(tmp_path / "dev.jsonl", rows[:10]), jsonl(tmp_path / "test.jsonl", rows[10:])
    raw = retrieval_config("m")
    raw["data"] = {"train": {"path": train}, "dev": {"path": dev}, "test": {"path": test}}
    with pytest.raises(DataError) as info:
        get_task("retrieval").load_data(parsed(raw))
    assert str(info.value) == (
        f"data.train ({train}): all 30 rows also occur in data.dev ({dev}): 10, data.test ({test}): 20, so none "
        "is left to train on; give a data.dev and data.test without the training rows, or remove data.dev and "
        "data.test to carve both splits from train"
    )


def test_dropped_training_rows_are_a_warning_at_create_study_only(
    tmp_path: Path, tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = retrieval_rows(120)
    train, test = jsonl(tmp_path / "train.jsonl", rows), jsonl(tmp_path / "test.jsonl", rows[:20])
    raw = retrieval_config(tiny_model, budget={"n_trials": 1})
    raw["data"] = {**raw["data"], "train": {"path": train}, "test": {"path": test}}
    config, url = str(write_config(tmp_path, raw)), f"sqlite:///{tmp_path}/study.db"
    said = f"dropped 20 of 120 training rows that also occur in data.test ({test})"
    caplog.set_level(logging.DEBUG, logger="hpo.data.splits")

    for command in (
        ["create-study", "--config", config],
        ["baseline", "--study", "tiny-retrieval"],
        ["worker", "--study", "tiny-retrieval"],
        ["best", "--study", "tiny-retrieval", "-o", str(tmp_path / "best.yaml")],
        ["train", str(tmp_path / "best.yaml"), "-o", str(tmp_path / "model")],
    ):
        result = invoke(*command, "--storage", url) if command[0] != "train" else invoke(*command)
        assert result.exit_code == 0, result.stderr

    levels = [r.levelname for r in caplog.records if r.getMessage() == said]
    assert levels == ["WARNING", "DEBUG", "DEBUG", "DEBUG"]  # create-study; baseline, the worker, train
