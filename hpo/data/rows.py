"""Read one field of one raw row, with errors that name the split, the file, the row and the fix."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hpo.data.sources import Row
from hpo.errors import DataError


@dataclass(frozen=True)
class Field:
    """Where a value comes from: its role, the source column, and the config key that maps it."""

    role: str
    column: str
    mapped_by: str  # the config key to set when the column has another name

    @classmethod
    def of(cls, role: str, columns: dict[str, str]) -> Field:
        """The field of ``role`` in a task's column map (``data.columns``)."""
        return cls(role, columns[role], f"data.columns.{role}")


def value(row: Row, index: int, where: str, field: Field) -> Any:
    """The field's value in row ``index`` (1-based) of ``where``; missing or null is a DataError."""
    if field.column not in row:
        raise DataError(
            f"{where}: column '{field.column}' ({field.role}) not found; columns are: {', '.join(map(str, row))}"
            f" (map it with {field.mapped_by})"
        )
    found = row[field.column]
    if found is None:
        raise DataError(f"{where}: row {index}: column '{field.column}' ({field.role}) is empty")
    return found


def text(row: Row, index: int, where: str, field: Field) -> str:
    """A non-empty text field."""
    found = value(row, index, where, field)
    if not isinstance(found, str):
        raise DataError(
            f"{where}: row {index}: column '{field.column}' ({field.role}) must be text, got {type(found).__name__}"
        )
    if not found.strip():
        raise DataError(f"{where}: row {index}: column '{field.column}' ({field.role}) is empty")
    return found


def identifier(row: Row, index: int, where: str, field: Field) -> str:
    """An id field: text or a whole number, not empty, as text."""
    found = value(row, index, where, field)
    if isinstance(found, bool) or not isinstance(found, (str, int)) or not str(found).strip():
        raise DataError(
            f"{where}: row {index}: column '{field.column}' ({field.role}) must be a non-empty text or whole "
            f"number, got {found!r}"
        )
    return str(found)


def numbers_only(raw: list[Row], where: str, field: Field) -> None:
    """A DataError naming the row where a column of numbers holds text.

    Text among numbers (a JSON file), or, in a column read as text throughout (a CSV reader does
    that when one value is not a number), the first value that does not read as a number.
    """
    found = [(i, row.get(field.column)) for i, row in enumerate(raw, 1) if row.get(field.column) is not None]
    texts = [(i, v) for i, v in found if isinstance(v, str)]
    if not texts:
        return
    if len(texts) == len(found):
        texts = [(i, v) for i, v in texts if not _reads_as_number(v)]
        if len(texts) == len(found):
            return  # no number at all: the task's reader says what it wants
    if texts:
        index, text = texts[0]
        raise DataError(
            f"{where}: row {index}: column '{field.column}' ({field.role}) must be a number like the other rows, "
            f"got text {text!r}"
        )


def _reads_as_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def require(items: Iterable[Any], split: str, what: str) -> None:
    """A DataError when a split has nothing left to train or evaluate on."""
    if not list(items):
        raise DataError(f"data.{split}: no {what} left after splitting; give more rows or set data.{split}")


def text_id(text: str) -> str:
    """A stable id for a text that has none of its own."""
    return hashlib.sha1(text.encode()).hexdigest()[:16]
