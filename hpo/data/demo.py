"""A small retrieval dataset that every Python install carries: the standard library's docstrings.

Each documented public function or class gives one row: its summary line is the query, the rest
of its docstring the passage. Used by the demo config so the quick start needs no download.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

# Pure-Python modules with many well-documented public callables and stable docstrings.
_MODULES = (
    "argparse",
    "asyncio",
    "base64",
    "bisect",
    "calendar",
    "collections",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "datetime",
    "decimal",
    "difflib",
    "email.message",
    "enum",
    "fractions",
    "ftplib",
    "functools",
    "gettext",
    "glob",
    "gzip",
    "heapq",
    "hmac",
    "html",
    "http.client",
    "imaplib",
    "inspect",
    "ipaddress",
    "json",
    "logging",
    "mailbox",
    "os",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "shlex",
    "shutil",
    "smtplib",
    "socket",
    "statistics",
    "string",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "tokenize",
    "turtle",
    "typing",
    "unittest",
    "urllib.parse",
    "urllib.request",
    "uuid",
    "warnings",
    "wave",
    "zipfile",
)
_MIN_PASSAGE_CHARS = 80


def stdlib_docstring_rows() -> list[dict[str, Any]]:
    """Rows with columns ``query``, ``positive`` and ``query_id`` (``module.name``)."""
    rows: list[dict[str, Any]] = []
    seen_queries: set[str] = set()
    for module_name in _MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # e.g. turtle without tkinter
            continue
        for name, obj in sorted(vars(module).items()):
            row = _row(module_name, name, obj)
            if row is not None and row["query"].lower() not in seen_queries:
                seen_queries.add(row["query"].lower())
                rows.append(row)
    return rows


def _row(module_name: str, name: str, obj: object) -> dict[str, Any] | None:
    if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return None
    if getattr(obj, "__module__", None) != module_name:
        return None
    doc = inspect.getdoc(obj)
    if not doc:
        return None
    summary, _, rest = doc.partition("\n")
    summary = summary.strip()
    passage = re.sub(r"\s+", " ", rest).strip()
    if len(summary) < 15 or len(passage) < _MIN_PASSAGE_CHARS:
        return None
    return {"query_id": f"{module_name}.{name}", "query": summary, "positive": passage[:1200]}
