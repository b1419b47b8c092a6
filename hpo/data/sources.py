"""Read the raw rows of one split from a local file, a Hub dataset, or the built-in demo data."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hpo.errors import DataError
from hpo.settings.config import FILE_FORMATS, DataSource

logger = logging.getLogger(__name__)

Row = dict[str, Any]


def read_rows(source: DataSource, role: str) -> list[Row]:
    """All rows of ``source`` as dicts; ``role`` (e.g. 'data.train') names it in errors."""
    if source.builtin is not None:
        from hpo.data.demo import stdlib_docstring_rows

        return stdlib_docstring_rows()
    if source.path is not None:
        return _read_file(Path(source.path), role)
    return _read_hub(source, role)


def _read_file(path: Path, role: str) -> list[Row]:
    if not path.is_file():
        raise DataError(f"{role}: file not found: {path}")
    fmt = FILE_FORMATS[path.suffix.lower()]
    import datasets

    from hpo.data.text_files import encoding_problem, structure_problem

    if fmt != "parquet" and (problem := encoding_problem(path) or structure_problem(path, fmt)):
        raise DataError(f"{role} ({path}): {problem}")
    try:
        dataset = datasets.load_dataset(fmt, data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many kinds for a malformed file
        raise DataError(f"{role}: cannot read {path}: {_first_line(_root_cause(exc))}") from exc
    rows: list[Row] = _as_written(path, fmt, dataset)
    if not rows:
        raise DataError(f"{role}: {path} has no rows")
    return rows


def _read_hub(source: DataSource, role: str) -> list[Row]:
    import datasets

    assert source.hub is not None and source.split is not None  # checked by DataSource
    try:
        dataset = datasets.load_dataset(source.hub, source.name, split=source.split, revision=source.revision)
    except Exception as exc:
        reason = f"{_first_line(exc)}{_hub_hint()}"
        raise DataError(f"{role}: cannot load Hub dataset {source.describe()}: {reason}") from exc
    rows: list[Row] = dataset.to_list()
    if not rows:
        raise DataError(f"{role}: Hub dataset {source.describe()} has no rows")
    return rows


def read_hub_splits(dataset_id: str, role: str) -> dict[str, list[Row]]:
    """Every split of the Hub dataset ``dataset_id`` (its default configuration), by split name."""
    import datasets

    try:
        splits = datasets.load_dataset(dataset_id)
    except Exception as exc:
        raise DataError(f"{role}: cannot load Hub dataset {dataset_id}: {_first_line(exc)}{_hub_hint()}") from exc
    return {name: split.to_list() for name, split in splits.items()}


def _hub_hint() -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return (
            " (HF_HUB_OFFLINE=1 is set and it is not in the local cache; download it once with "
            "the Hub reachable, or point data.*.path at local files)"
        )
    return " (check the dataset id, name and split, and that the Hub is reachable)"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause: datasets wraps the reader's error in "An error occurred while generating the dataset"."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _as_written(path: Path, fmt: str, dataset: Any) -> list[Row]:
    """The rows, each value as the file wrote it.

    datasets reads a JSON column of mixed types as JSON text and gives "0.7" back as 0.7 (so one
    text among numbers would pass unseen): such a file is read again with the json module.
    """
    import datasets

    rows: list[Row] = dataset.to_list()
    if fmt != "json" or not any(isinstance(f, datasets.Json) for f in dataset.features.values()):
        return rows
    import json

    text = path.read_text(encoding="utf-8")
    try:
        written = json.loads(text)
    except ValueError:  # JSON Lines; not splitlines(): strings may hold U+2028 and other line breaks
        written = [json.loads(line) for line in text.split("\n") if line.strip()]
    if isinstance(written, list) and len(written) == len(rows) and all(isinstance(r, dict) for r in written):
        return [{column: row.get(column) for column in dataset.column_names} for row in written]
    return rows
