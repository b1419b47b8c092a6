from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from hpo.errors import ConfigError
from hpo.settings.yaml_file import read_yaml_file


def _read(tmp_path: Path, data: bytes) -> Any:
    path = tmp_path / "study.yaml"
    path.write_bytes(data)
    return read_yaml_file(path)


def _error(tmp_path: Path, data: bytes) -> str:
    with pytest.raises(ConfigError) as info:
        _read(tmp_path, data)
    return str(info.value).replace(str(tmp_path / "study.yaml"), "{path}")


def test_reads_a_mapping(tmp_path: Path) -> None:
    text = "study_name: demo\nn_trials: 3\nrate: 1.0e-4\nwhen: 2024-05-01\ntags: [a, b]\nnothing:\n"
    assert _read(tmp_path, text.encode()) == {
        "study_name": "demo",
        "n_trials": 3,
        "rate": 1.0e-4,
        "when": datetime.date(2024, 5, 1),
        "tags": ["a", "b"],
        "nothing": None,
    }


def test_an_empty_file_is_none(tmp_path: Path) -> None:
    assert _read(tmp_path, b"") is None


def test_only_true_and_false_are_booleans(tmp_path: Path) -> None:
    text = "a: true\nb: False\nc: TRUE\nd: yes\ne: No\nf: on\ng: OFF\nh: y\ni: n\non: 1\n'true': x\n"
    assert _read(tmp_path, text.encode()) == {
        "a": True,
        "b": False,
        "c": True,
        "d": "yes",
        "e": "No",
        "f": "on",
        "g": "OFF",
        "h": "y",
        "i": "n",
        "on": 1,
        "true": "x",
    }


def test_a_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    assert _read(tmp_path, b"\xef\xbb\xbfname: caf\xc3\xa9\n") == {"name": "café"}


def test_anchors_and_aliases_still_work(tmp_path: Path) -> None:
    assert _read(tmp_path, b"a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("a: 1\n".encode("utf-16"), "{path}: the file is UTF-16; save it as UTF-8"),
        ("a: 1\n".encode("utf-16-be"), "{path}: the file is UTF-16; save it as UTF-8"),
        ("a: 1\n".encode("utf-16-le"), "{path}: the file is UTF-16; save it as UTF-8"),
        ("a: 1\n".encode("utf-32"), "{path}: the file is UTF-32; save it as UTF-8"),
        ("a: 1\n".encode("utf-32-be"), "{path}: the file is UTF-32; save it as UTF-8"),
        (
            "a: 1\nb: 2\nname: café\n".encode("latin-1"),
            "{path}: not valid UTF-8 at byte 19 (line 3, column 10): 0xe9; save the file as UTF-8",
        ),
        (
            b"\xef\xbb\xbfcaf\xe9: 1\n",
            "{path}: not valid UTF-8 at byte 6 (line 1, column 4): 0xe9; save the file as UTF-8",
        ),
        (
            b"name: \xc3\xa9t\xc3\n",
            "{path}: not valid UTF-8 at byte 9 (line 1, column 9): 0xc3; save the file as UTF-8",
        ),
    ],
    ids=["utf16", "utf16be-no-bom", "utf16le-no-bom", "utf32", "utf32be-no-bom", "latin1", "bom-then-latin1", "cut"],
)
def test_refuses_files_that_are_not_utf8(tmp_path: Path, data: bytes, message: str) -> None:
    assert _error(tmp_path, data) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2\nb: 3\n", "{path}: invalid YAML at line 2, column 2: expected ',' or ']', but got ':'"),
        ("a:\n\tb: 1\n", "{path}: invalid YAML at line 2, column 1: found character '\\t' that cannot start any token"),
        ("a: 1\n---\nb: 2\n", "{path}: invalid YAML at line 2, column 1: but found another document"),
        (
            "a: !!python/object:os.system x\n",
            "{path}: invalid YAML at line 1, column 4: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        (
            "a: 1\nb: x\x07y\n",
            "{path}: invalid YAML at line 2, column 5: character U+0007 is not allowed in YAML; remove it",
        ),
        (
            "a: 1\nb: x\x00y\n",
            "{path}: invalid YAML at line 2, column 5: character U+0000 is not allowed in YAML; remove it",
        ),
    ],
    ids=["syntax", "tab", "two-documents", "python-tag", "control-character", "nul"],
)
def test_invalid_yaml_names_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    assert _error(tmp_path, text.encode()) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", "{path}: duplicate key 'a' at line 3 (first at line 1)"),
        ("a:\n  b:\n    - c: 1\n      d: 2\n      c: 3\n", "{path}: duplicate key 'c' at line 5 (first at line 3)"),
        ("x: {a: 1, a: 2}\n", "{path}: duplicate key 'a' at line 1 (first at line 1)"),
        ("'a': 1\na: 2\n", "{path}: duplicate key 'a' at line 2 (first at line 1)"),
        ("1: a\n0x1: b\n", "{path}: duplicate key 1 at line 2 (first at line 1)"),
        ("true: a\nTrue: b\n", "{path}: duplicate key True at line 2 (first at line 1)"),
        ("yes: a\nyes: b\n", "{path}: duplicate key 'yes' at line 2 (first at line 1)"),
    ],
    ids=["top", "nested", "flow", "quoted", "int", "bool", "yes"],
)
def test_refuses_duplicate_keys(tmp_path: Path, text: str, message: str) -> None:
    assert _error(tmp_path, text.encode()) == message


def test_refuses_merge_keys(tmp_path: Path) -> None:
    text = "base: &b {a: 1}\nrun:\n  <<: *b\n  c: 2\n"
    assert _error(tmp_path, text.encode()) == "{path}: merge key '<<' at line 3 is not supported; write the keys out"


def test_yes_and_no_keys_are_different_strings(tmp_path: Path) -> None:
    # With YAML 1.1 booleans both keys would be True, and the second would silently replace the first.
    assert _read(tmp_path, b"on: a\nyes: b\n") == {"on": "a", "yes": "b"}


def test_a_missing_file_is_named_by_what(tmp_path: Path) -> None:
    path = tmp_path / "best.yaml"
    with pytest.raises(ConfigError) as info:
        read_yaml_file(path, what="exported best trial")
    assert str(info.value) == f"{path}: exported best trial not found"


def test_a_missing_file_defaults_to_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_yaml_file(tmp_path / "study.yaml")
    assert str(info.value) == f"{tmp_path / 'study.yaml'}: config file not found"


def test_a_directory_gives_the_os_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_yaml_file(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read config file: Is a directory"


def test_an_unreadable_file_gives_the_os_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("a: 1\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")  # what chmod 0 gives a non-root user

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ConfigError) as info:
        read_yaml_file(path)
    assert str(info.value) == f"{path}: cannot read config file: Permission denied"
