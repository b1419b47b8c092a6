"""Task and column inference: the shared sets, awkward files, and ambiguous ones (one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hpo.errors import UsageError
from hpo.tune.infer import Inferred, find_files, infer
from tests.helpers import SHARED_DATA

Row = dict[str, Any]


def _write(folder: Path, name: str, rows: list[Row]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _infer(folder: Path, **kwargs: Any) -> Inferred:
    from hpo.data.sources import read_rows
    from hpo.settings.config import DataSource

    files = {role: DataSource(path=str(p)) for role, p in find_files(folder).items()}
    rows = {role: read_rows(source, role) for role, source in files.items() if role in ("train", "corpus")}
    return infer(files, rows, **kwargs)


def _pairs(n: int, gold: Any, **extra: Any) -> list[Row]:
    return [
        {"sentence1": f"first text number {i}", "sentence2": f"the second text {i * 7}", "gold": gold(i), **extra}
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("name", "task", "columns"),
    [
        ("bioasq", "retrieval", {"query": "query", "relevant_ids": "relevant_ids", "query_id": "id"}),
        ("quora_duplicates", "pair-classification", {"text1": "text1", "text2": "text2", "label": "label"}),
        ("sick", "similarity", {"text1": "text1", "text2": "text2", "score": "score"}),
    ],
)
def test_the_shared_sets(name: str, task: str, columns: dict[str, str]) -> None:
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"{SHARED_DATA / name} is not here")
    inferred = _infer(SHARED_DATA / name)
    assert (inferred.task, inferred.columns) == (task, columns)
    assert set(inferred.files) >= {"train", "dev", "test"}
    if name == "bioasq":
        assert inferred.corpus_columns == ("id", "text")
    if name == "sick":
        assert inferred.score_range is None  # already in [0, 1]; the 1-5 relatedness column is not taken


def test_scores_from_one_to_five_are_rescaled_and_said(tmp_path: Path) -> None:
    _write(tmp_path, "train.jsonl", _pairs(40, lambda i: 1 + (i % 5)))
    inferred = _infer(tmp_path)
    assert inferred.task == "similarity"
    assert inferred.columns == {"text1": "sentence1", "text2": "sentence2", "score": "gold"}
    assert inferred.score_range == (1.0, 5.0)
    assert inferred.notes == ["scores in [1, 5] rescaled to [0, 1] from [1, 5]"]
    assert inferred.data_section()["score_range"] == [1.0, 5.0]


def test_yes_no_labels_name_the_positive_value(tmp_path: Path) -> None:
    _write(tmp_path, "train.jsonl", _pairs(40, lambda i: "yes" if i % 3 else "no"))
    inferred = _infer(tmp_path)
    assert inferred.task == "pair-classification"
    assert inferred.columns["label"] == "gold"
    assert inferred.positive_label == "yes"


def test_two_labels_without_a_known_match_value_are_a_one_line_error(tmp_path: Path) -> None:
    _write(tmp_path, "train.jsonl", _pairs(40, lambda i: "red" if i % 3 else "blue"))
    with pytest.raises(UsageError) as info:
        _infer(tmp_path, task="pair-classification")
    assert str(info.value) == "column 'gold' holds blue, red: say which means a match (--positive-label VALUE)"


def test_boolean_labels_need_no_mapping(tmp_path: Path) -> None:
    _write(tmp_path, "train.jsonl", _pairs(40, lambda i: i % 2 == 0))
    inferred = _infer(tmp_path)
    assert (inferred.task, inferred.positive_label) == ("pair-classification", None)


def test_extra_columns_are_left_alone(tmp_path: Path) -> None:
    rows = _pairs(60, lambda i: i % 2, id=0, source="wiki")
    for i, row in enumerate(rows):
        row["id"] = i
        row["genre"] = ["news", "forum", "captions"][i % 3]
    _write(tmp_path, "train.jsonl", rows)
    inferred = _infer(tmp_path)
    assert inferred.columns == {"text1": "sentence1", "text2": "sentence2", "label": "gold"}


def test_no_dev_or_test_split_is_carved_later(tmp_path: Path) -> None:
    _write(tmp_path, "train.jsonl", _pairs(40, lambda i: i % 2))
    inferred = _infer(tmp_path)
    assert list(inferred.files) == ["train"]
    assert "dev" not in inferred.data_section()  # create-study carves it, with its leak rules


def test_a_corpus_with_other_id_names(tmp_path: Path) -> None:
    corpus = [{"doc_id": f"d{i}", "content": f"passage number {i} about topic {i % 7}"} for i in range(30)]
    queries = [{"question": f"what about topic {i}?", "positive_ids": [f"d{i}", f"d{i + 1}"]} for i in range(20)]
    _write(tmp_path, "corpus.jsonl", corpus)
    _write(tmp_path, "train.jsonl", queries)
    inferred = _infer(tmp_path)
    assert inferred.task == "retrieval"
    assert inferred.corpus_columns == ("doc_id", "content")
    assert inferred.columns == {"query": "question", "relevant_ids": "positive_ids"}


def test_query_and_passage_columns_make_retrieval(tmp_path: Path) -> None:
    rows = [{"anchor": f"question {i}?", "passage": f"an answer passage {i * 3} with words"} for i in range(30)]
    _write(tmp_path, "train.jsonl", rows)
    inferred = _infer(tmp_path)
    assert (inferred.task, inferred.columns) == ("retrieval", {"query": "anchor", "positive": "passage"})
    assert inferred.notes == ["no corpus file: the passages of the data are the corpus"]


def test_two_numeric_columns_without_known_names_are_ambiguous(tmp_path: Path) -> None:
    rows = _pairs(40, lambda i: i % 5)
    for i, row in enumerate(rows):
        row["rating"] = float(i % 4)
        row["votes"] = float(i % 3)
        del row["gold"]
    _write(tmp_path, "train.jsonl", rows)
    with pytest.raises(UsageError) as info:
        _infer(tmp_path)
    assert str(info.value) == (
        "cannot tell the label or score column (candidates: rating, votes); "
        "settle it with --columns label=COLUMN or score=COLUMN"
    )
    assert _infer(tmp_path, columns={"score": "votes"}).columns["score"] == "votes"


def test_three_text_columns_are_ambiguous(tmp_path: Path) -> None:
    rows = [{"a": f"one {i}", "b": f"two {i * 2}", "c": f"three {i * 3}", "y": i % 2} for i in range(40)]
    _write(tmp_path, "train.jsonl", rows)
    with pytest.raises(UsageError) as info:
        _infer(tmp_path)
    assert (
        str(info.value)
        == "cannot tell the two text columns among a, b, c (settle it with --columns text1=COLUMN,text2=COLUMN)"
    )
    inferred = _infer(tmp_path, columns={"text1": "a", "text2": "c"})
    assert inferred.columns == {"text1": "a", "text2": "c", "label": "y"}


def test_a_column_that_is_not_there(tmp_path: Path) -> None:
    _write(tmp_path, "train.jsonl", _pairs(10, lambda i: i % 2))
    with pytest.raises(UsageError) as info:
        _infer(tmp_path, columns={"label": "nope"})
    assert str(info.value) == "--columns label=nope: no column 'nope' in train (columns: sentence1, sentence2, gold)"


def test_a_folder_without_train(tmp_path: Path) -> None:
    _write(tmp_path, "dev.jsonl", _pairs(10, lambda i: i % 2))
    with pytest.raises(UsageError) as info:
        find_files(tmp_path)
    assert str(info.value) == f"DATA {tmp_path}: no train file (expected train.{{csv/json/jsonl/parquet}})"


def test_validation_names_the_dev_split(tmp_path: Path) -> None:
    _write(tmp_path, "train.jsonl", _pairs(10, lambda i: i % 2))
    _write(tmp_path, "validation.jsonl", _pairs(10, lambda i: i % 2))
    assert set(find_files(tmp_path)) == {"train", "dev"}


def test_a_hub_dataset_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub id is read once, all splits, and the study file names its splits as data.*.hub."""
    import datasets

    from hpo.tune.data_in import read_data

    rows = _pairs(30, lambda i: i % 6)
    loaded: list[str] = []

    def load_dataset(dataset_id: str) -> datasets.DatasetDict:
        loaded.append(dataset_id)
        return datasets.DatasetDict(
            {"train": datasets.Dataset.from_list(rows), "validation": datasets.Dataset.from_list(rows[:10])}
        )

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    sources, split_rows = read_data(Path("acme/sts-like"))
    inferred = infer(sources, split_rows)
    assert loaded == ["acme/sts-like"]
    assert inferred.task == "similarity"
    section = inferred.data_section()
    assert section["train"] == {"hub": "acme/sts-like", "split": "train"}
    assert section["dev"] == {"hub": "acme/sts-like", "split": "validation"}
    assert "test" not in section  # create-study carves it
    assert ("dev", "acme/sts-like:validation") in inferred.table()


def test_data_that_is_neither_a_folder_nor_a_hub_id(tmp_path: Path) -> None:
    from hpo.tune.data_in import read_data

    with pytest.raises(UsageError) as info:
        read_data(tmp_path / "not here" / "x")
    assert str(info.value) == (
        f"DATA {tmp_path / 'not here' / 'x'}: not a folder or a Hub dataset id (give a folder of train/dev/test files)"
    )


def test_an_unreachable_hub_dataset_is_one_line() -> None:
    from hpo.errors import DataError
    from hpo.tune.data_in import read_data

    with pytest.raises(DataError) as info:
        read_data(Path("no-such-owner/no-such-dataset"))
    prefix = "DATA no-such-owner/no-such-dataset (no such folder here): cannot load Hub dataset no-such-owner/"
    assert str(info.value).startswith(prefix)
    assert "\n" not in str(info.value)
