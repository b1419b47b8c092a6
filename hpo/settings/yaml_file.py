"""Read a YAML file strictly: UTF-8, no duplicate or merge keys, YAML 1.2's booleans and numbers.

Study configs and exported best-trial files are read with :func:`read_yaml_file`; every problem
becomes a one-line :class:`~hpo.errors.ConfigError` that names the file and the place.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml

from hpo.errors import ConfigError

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.2's core schema: 1e-5 is a float (a string to YAML 1.1), 010 is ten (eight to YAML 1.1),
# 1:30 is a string (90 to YAML 1.1).
_INT_12 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_12 = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"  # a plain `=` key; SafeLoader turns it into the string '='


class _RefusedError(yaml.YAMLError):
    """Valid YAML that this reader refuses; the message is ready to follow the file name."""


def _yaml12_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """SafeLoader's implicit resolvers with YAML 1.2's booleans (true/false, any case) and numbers."""
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG)]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for first in "tTfF":
        resolvers.setdefault(first, []).append((_BOOL_TAG, re.compile(r"^(?:true|false)$", re.IGNORECASE)))
    for first in "-+0123456789.":
        resolvers.setdefault(first, []).extend([(_INT_TAG, _INT_12), (_FLOAT_TAG, _FLOAT_12)])
    return resolvers


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = str(loader.construct_scalar(node))
    if value.startswith("0o"):
        return int(value[2:], 8)
    return int(value, 16) if value.startswith("0x") else int(value, 10)


class _StrictLoader(yaml.SafeLoader):
    """safe_load's loader, refusing duplicate and merge keys and reading yes/no/on/off/y/n as strings."""

    # YAML 1.1 reads yes/no/on/off/y/n as booleans, so `epochs: yes` would silently become 1 and
    # a key `on:` would become True; as strings they fail validation with a clear message instead.
    yaml_implicit_resolvers = _yaml12_resolvers()

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                # PyYAML's merge lets the wrong value win when merged mappings merge others.
                raise _RefusedError(f"merge key '<<' at line {line} is not supported; write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a complex key (? [a, b]) is left to construct_mapping to judge
            key = "=" if key_node.tag == _VALUE_TAG else self.construct_object(key_node)
            if key in first_lines:
                raise _RefusedError(f"duplicate key {key!r} at line {line} (first at line {first_lines[key]})")
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(_INT_TAG, _construct_int)


def read_yaml_file(path: Path, what: str = "config file") -> Any:
    """Load the one YAML document in ``path``; ``what`` names the file in "not found" and "cannot read".

    Returns the loaded object as safe_load would, except that yes/no/on/off/y/n stay strings.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    text = _decode_utf8(data, path)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except _RefusedError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.reader.ReaderError as exc:
        line, column = _line_and_column(text, exc.position)
        problem = f"character U+{exc.character:04X} is not allowed in YAML; remove it"
        raise ConfigError(f"{path}: invalid YAML at line {line}, column {column}: {problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "cannot be parsed"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None


def _decode_utf8(data: bytes, path: Path) -> str:
    """The text of ``data``, which must be UTF-8 (a byte order mark is allowed and dropped)."""
    wide = _wide_encoding(data[:4])
    if wide:
        raise ConfigError(f"{path}: the file is {wide}; save it as UTF-8")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start  # counted from 0 in the file, as hex editors show it
        line_start = data.rfind(b"\n", 0, offset) + 1
        line = data.count(b"\n", 0, offset) + 1
        column = len(data[max(line_start, bom) : offset].decode("utf-8")) + 1
        raise ConfigError(
            f"{path}: not valid UTF-8 at byte {offset} (line {line}, column {column}): "
            f"0x{data[offset]:02x}; save the file as UTF-8"
        ) from None


def _wide_encoding(head: bytes) -> str | None:
    """'UTF-16' or 'UTF-32' when the first four bytes say so, by the YAML spec's detection table."""
    if head in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        return "UTF-32"
    if len(head) == 4 and (head[:3] == b"\x00\x00\x00") != (head[1:] == b"\x00\x00\x00"):
        return "UTF-32"  # no byte order mark: an ASCII first character and three NULs
    if head[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return "UTF-16"
    if len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        return "UTF-16"  # no byte order mark: an ASCII first character and one NUL
    return None


def _line_and_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of the character at ``position`` in ``text``."""
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1
