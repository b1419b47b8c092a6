from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpo.training import cache_entry
from hpo.training.disk_cache import DiskCache
from tests.cache_faults import overwrite_json, read_only, tiny_disk, truncate

__all__ = ["read_only", "tiny_disk"]  # fixtures

KEY = {"kind": "thing", "data": "sha256:1", "n": 3}


def _text(value: str) -> Callable[[str, Path], None]:
    def save(text: str, folder: Path) -> None:
        (folder / "x.txt").write_text(text)

    return save


def _read(folder: Path) -> str:
    return (folder / "x.txt").read_text()


def _get(cache: DiskCache, key: dict[str, Any], value: str, built: list[str]) -> str:
    def compute() -> str:
        built.append(value)
        return value

    return cache.value(key, compute, _text(value), _read)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_location_comes_from_the_environment(tmp_path: Path) -> None:
    assert DiskCache.from_environment({"HPO_CACHE": str(tmp_path)}).root == tmp_path  # type: ignore[union-attr]
    assert DiskCache.from_environment({"HPO_CACHE": "off"}) is None
    assert DiskCache.from_environment({"XDG_CACHE_HOME": "/x"}).root == Path("/x/hpo")  # type: ignore[union-attr]
    assert DiskCache.from_environment({}).root == Path.home() / ".cache" / "hpo"  # type: ignore[union-attr]


def test_an_entry_is_built_once_and_read_after(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    built: list[str] = []
    assert _get(cache, KEY, "hello", built) == "hello"
    assert _get(cache, dict(reversed(KEY.items())), "other", built) == "hello"  # key order does not matter
    assert built == ["hello"]
    folder = cache.folder(KEY)
    assert json.loads((folder / "key.json").read_text()) == KEY
    assert sorted(json.loads((folder / "manifest.json").read_text())["files"]) == ["key.json", "x.txt"]
    assert folder.parent.name == "thing" and cache_entry.problem(folder) is None
    assert _get(cache, {**KEY, "n": 4}, "four", built) == "four"


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)

    def broken(value: str, folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.value({"kind": "thing"}, lambda: "v", broken, _read)
    assert [p.name for p in (tmp_path / "thing").iterdir() if not p.name.endswith(".lock")] == []
    assert _get(cache, {"kind": "thing"}, "ok", []) == "ok"


def test_leftovers_of_a_dead_builder_are_removed(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    final = cache.folder({"kind": "thing"})
    final.parent.mkdir(parents=True)
    (final.parent / f".{final.name}.999-dead").mkdir()
    _get(cache, {"kind": "thing"}, "v", [])
    assert sorted(p.name for p in final.parent.iterdir()) == sorted([final.name, final.name + ".lock"])


def _build_slowly(root: str, marks: str) -> str:
    def compute() -> str:
        with open(marks, "a") as f:
            f.write("built\n")
        time.sleep(0.5)
        return "42"

    return DiskCache(Path(root)).value({"kind": "race"}, compute, _text("42"), _read)


def test_processes_racing_for_an_entry_build_it_once(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        values = pool.starmap(_build_slowly, [(str(tmp_path / "c"), str(marks))] * 3)
    assert values == ["42"] * 3
    assert marks.read_text() == "built\n"


def test_memo_computes_once_per_key_and_scope(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    calls: list[int] = []

    def compute() -> list[str]:
        calls.append(1)
        return ["b", "a"]

    memo = cache.memo({"data": "sha256:1"})
    assert memo("ids", {"cap": 5}, compute) == ["b", "a"]
    assert DiskCache(tmp_path).memo({"data": "sha256:1"})("ids", {"cap": 5}, compute) == ["b", "a"]
    assert len(calls) == 1
    cache.memo({"data": "sha256:2"})("ids", {"cap": 5}, compute)
    assert len(calls) == 2


def _same_size_other_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-2] = ord("9") if data[-2] != ord("9") else ord("8")  # still JSON, another value: only the digest sees it
    path.write_bytes(bytes(data))


DAMAGES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "value overwritten": ("value.json", overwrite_json, "12 bytes, the manifest says 9"),  # value: "[1, 2, 3]"
    "value truncated": ("value.json", truncate, "3 bytes, the manifest says 9"),
    "value changed in place": ("value.json", _same_size_other_bytes, "its sha256 differs from the manifest's"),
    "value missing": ("value.json", Path.unlink, "missing"),
    "key missing": ("key.json", Path.unlink, "missing"),
    "manifest overwritten": ("manifest.json", overwrite_json, "unreadable (JSONDecodeError"),
    "manifest missing": ("manifest.json", Path.unlink, "missing"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_memo_entry_is_set_aside_with_one_warning_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    name, harm, what = DAMAGES[damage]
    calls: list[int] = []

    def compute() -> list[int]:
        calls.append(1)
        return [1, 2, 3]

    assert DiskCache(tmp_path).memo({"data": "d"})("ids", {"cap": 5}, compute) == [1, 2, 3]
    folder = DiskCache(tmp_path).folder({"kind": "ids", "data": "d", "cap": 5})
    harm(folder / name)
    caplog.set_level(logging.WARNING)
    for _ in range(2):  # set aside once, then read from the rebuilt entry
        assert DiskCache(tmp_path).memo({"data": "d"})("ids", {"cap": 5}, compute) == [1, 2, 3]
    assert len(calls) == 2
    [warning] = _warnings(caplog)
    assert warning.startswith(f"damaged disk-cache entry {folder / name}: {what}")
    [aside] = folder.parent.glob(f"{folder.name}.damaged-*")
    assert warning.endswith(f"set aside as {aside.name} and rebuilt")
    assert cache_entry.problem(folder) is None and cache_entry.problem(aside) is not None


def test_an_entry_its_reader_cannot_load_is_set_aside_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = DiskCache(tmp_path)
    cache.value(KEY, lambda: "not a number", _text("x"), _read)  # sealed as written, yet not what the reader takes
    caplog.set_level(logging.WARNING)
    assert cache.value(KEY, lambda: "7", _text("7"), lambda f: str(int(_read(f)))) == "7"
    [warning] = _warnings(caplog)
    folder = cache.folder(KEY)
    assert warning.startswith(f"damaged disk-cache entry {folder}: ValueError: invalid literal for int()")
    assert _read(folder) == "7"


def test_an_unwritable_cache_is_given_up_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = DiskCache(blocked / "cache")
    caplog.set_level(logging.WARNING)
    built: list[str] = []
    assert [_get(cache, {"kind": "thing", "n": n}, str(n), built) for n in range(3)] == ["0", "1", "2"]
    assert cache.memo({"data": "d"})("ids", {}, lambda: [1]) == [1]
    assert built == ["0", "1", "2"]
    assert _warnings(caplog) == [
        f"disk cache {blocked / 'cache'} cannot be written (NotADirectoryError: [Errno 20] Not a directory: "
        f"'{blocked / 'cache' / 'thing'}'): not used by this process"
    ]


def test_entries_of_a_read_only_cache_are_still_read(tmp_path: Path, read_only: Callable[[Path], None]) -> None:
    built: list[str] = []
    _get(DiskCache(tmp_path), KEY, "kept", built)
    read_only(tmp_path)
    assert _get(DiskCache(tmp_path), KEY, "new", built) == "kept" and built == ["kept"]


def test_a_read_only_cache_is_given_up_with_one_warning(
    tmp_path: Path, read_only: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    read_only(tmp_path)
    caplog.set_level(logging.WARNING)
    cache = DiskCache(tmp_path)
    assert [_get(cache, {"kind": "thing", "n": n}, str(n), []) for n in range(3)] == ["0", "1", "2"]
    [warning] = _warnings(caplog)
    assert warning.startswith(f"disk cache {tmp_path} cannot be written (")
    assert "Read-only file system" in warning or "Permission denied" in warning


def test_a_full_cache_is_given_up_with_one_warning(tiny_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    cache = DiskCache(tiny_disk)
    big = "x" * 200_000  # more than the disk holds

    def compute() -> str:
        return big

    assert [cache.value({"kind": "big", "n": n}, compute, _text(big), _read) for n in range(2)] == [big, big]
    [warning] = _warnings(caplog)
    assert warning.startswith(f"disk cache {tiny_disk} cannot be written (OSError: [Errno 28] No space left on device")
    assert not list((tiny_disk / "big").glob(".*"))  # the half-written entry is gone


def _damaged_reader(root: str) -> list[int]:
    return DiskCache(Path(root)).memo({"data": "d"})("ids", {}, lambda: [4, 5])


def test_processes_meeting_a_damaged_entry_set_it_aside_once(tmp_path: Path) -> None:
    DiskCache(tmp_path).memo({"data": "d"})("ids", {}, lambda: [4, 5])
    folder = DiskCache(tmp_path).folder({"kind": "ids", "data": "d"})
    overwrite_json(folder / "value.json")
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        values = pool.map(_damaged_reader, [str(tmp_path)] * 3)
    assert values == [[4, 5]] * 3
    assert len(list(folder.parent.glob(f"{folder.name}.damaged-*"))) == 1
