"""Pair classification: loading labelled pairs, and the errors that name file, row and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.errors import DataError, TrialError
from objectives.pair_classification import TASK, LabelledPairs
from tests.helpers import jsonl, pair_rows, pairs_config, parsed, training_params


def test_pair_labels_and_dev_carving(tmp_path: Path) -> None:
    data = TASK.load_data(parsed(pairs_config("m", jsonl(tmp_path / "t.jsonl", pair_rows(200)), dev_fraction=0.3)))
    assert isinstance(data, LabelledPairs)
    assert len(data.train) + len(data.dev) < 200  # the rest went to the carved test split
    assert set(data.dev.labels) == {0, 1}
    assert list(data.summary()) == ["train_pairs", "train_positive_share", "dev_pairs"]


BAD_DATA = [
    (
        [{"text1": "a", "label": 1}],
        "data.train ({path}): column 'text2' (text2) not found; columns are: text1, label "
        "(map it with data.columns.text2)",
    ),
    ([{"text1": "a", "text2": "  ", "label": 1}], "data.train ({path}): row 1: column 'text2' (text2) is empty"),
    (
        [{"text1": "a", "text2": "b", "label": "yes"}],
        "data.train ({path}): row 1: column 'label' (label) must be 0 or 1, got 'yes'"
        "; for other labels set data.positive_label to the value that means a match",
    ),
    (
        [{"text1": "a", "text2": "b", "label": 2}],
        "data.train ({path}): row 1: column 'label' (label) must be 0 or 1, got 2"
        "; for other labels set data.positive_label to the value that means a match",
    ),
    (
        [{"text1": 5, "text2": "b", "label": 1}],
        "data.train ({path}): row 1: column 'text1' (text1) must be text, got int",
    ),
]


@pytest.mark.parametrize(("rows", "message"), BAD_DATA)
def test_bad_pair_rows_name_file_row_and_column(tmp_path: Path, rows: list[dict[str, Any]], message: str) -> None:
    path = jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError) as info:
        TASK.load_data(parsed(pairs_config("m", path)))
    assert str(info.value) == message.format(path=path)


def test_single_label_split_is_rejected(tmp_path: Path) -> None:
    rows = [{"text1": f"q {i}", "text2": f"p {i}", "label": 1} for i in range(50)]
    with pytest.raises(DataError, match=r"^data.train: all \d+ pairs have label 1; both 0 and 1 are needed$"):
        TASK.load_data(parsed(pairs_config("m", jsonl(tmp_path / "t.jsonl", rows))))


def test_a_run_with_mined_negatives_is_not_a_pair_classification_run() -> None:
    params = training_params(loss="OnlineContrastiveLoss", hard_negatives={"miner": "bm25"})
    with pytest.raises(
        TrialError, match=r"^hard_negatives: mined hard negatives are for retrieval, not pair-classification$"
    ):
        TASK.check_run(params)
    TASK.check_run(training_params(loss="ContrastiveLoss", loss_params={"margin": 0.5, "size_average": True}))
