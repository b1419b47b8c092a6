"""What is wrong with a local JSON Lines or CSV file, by line: text that is not UTF-8, a cut or broken line.

The ``datasets`` readers report such files as "An error occurred while generating the dataset"
(after logging lines of their own), or load bytes that are not UTF-8 and fail later. These checks
run first and name the file's line and the problem.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

FIX_ENCODING = "save the file as UTF-8"


def encoding_problem(path: Path) -> str | None:
    """Where ``path`` stops being UTF-8 text ('line N: ...'), or None when it is UTF-8 throughout."""
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"line {number} is not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); "
                    f"{FIX_ENCODING}"
                )
    return None


def structure_problem(path: Path, fmt: str) -> str | None:
    """The first line of a UTF-8 JSON or CSV file that its reader cannot take, or None when none is found.

    A file that is one JSON document (not JSON Lines) is left to the reader."""
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        return _json_problem(text)
    if fmt == "csv":
        return _csv_problem(text)
    return None


def _json_problem(text: str) -> str | None:
    lines = text.split("\n")  # not splitlines(): JSON strings may hold U+2028 and other line breaks
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            if index == 0 and _whole_document(text):
                return None  # one JSON document, not JSON Lines
            cut = " (the file looks cut short)" if index == last and not text.endswith("\n") else ""
            reason = exc.msg.removesuffix(" at")  # "Unterminated string starting at"
            return f"line {index + 1} is not valid JSON: {reason} at column {exc.colno}{cut}"
        if isinstance(value, list) and index == 0 == last:
            return None  # one JSON document on one line: a list of rows, as json.dump writes it
        if not isinstance(value, dict):
            return f"line {index + 1} is a JSON {type(value).__name__}, not an object of column values"
    return None


def _whole_document(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _csv_problem(text: str) -> str | None:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            if "end of data" in str(exc):
                return f"line {start}: a quoted field is never closed (the file looks cut short)"
            return f"line {start}: {exc}"
        if row:
            if header is None:
                header = row
            elif len(row) > len(header):
                return f"line {start} has {len(row)} fields where the header has {len(header)}"
        start = reader.line_num + 1
