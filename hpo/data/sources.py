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

    try:
        dataset = datasets.load_dataset(fmt, data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many kinds for a malformed file
        raise DataError(f"{role}: cannot read {path}: {_first_line(exc)}") from exc
    rows: list[Row] = dataset.to_list()
    if not rows:
        raise DataError(f"{role}: {path} has no rows")
    return rows


def _read_hub(source: DataSource, role: str) -> list[Row]:
    import datasets

    assert source.hub is not None and source.split is not None  # checked by DataSource
    try:
        dataset = datasets.load_dataset(source.hub, source.name, split=source.split, revision=source.revision)
    except Exception as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            " (HF_HUB_OFFLINE=1 is set and it is not in the local cache; download it once with "
            "the Hub reachable, or point data.*.path at local files)"
            if offline
            else " (check the dataset id, name and split, and that the Hub is reachable)"
        )
        raise DataError(f"{role}: cannot load Hub dataset {source.describe()}: {_first_line(exc)}{hint}") from exc
    rows: list[Row] = dataset.to_list()
    if not rows:
        raise DataError(f"{role}: Hub dataset {source.describe()} has no rows")
    return rows


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
