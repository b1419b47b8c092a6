from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from hpo.training.disk_cache import DiskCache


def test_location_comes_from_the_environment(tmp_path: Path) -> None:
    assert DiskCache.from_environment({"HPO_CACHE": str(tmp_path)}).root == tmp_path  # type: ignore[union-attr]
    assert DiskCache.from_environment({"HPO_CACHE": "off"}) is None
    assert DiskCache.from_environment({"XDG_CACHE_HOME": "/x"}).root == Path("/x/hpo")  # type: ignore[union-attr]
    assert DiskCache.from_environment({}).root == Path.home() / ".cache" / "hpo"  # type: ignore[union-attr]


def test_an_entry_is_built_once_and_read_after(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    built: list[Path] = []

    def build(folder: Path) -> None:
        built.append(folder)
        (folder / "x.txt").write_text("hello")

    key = {"kind": "thing", "data": "sha256:1", "n": 3}
    first = cache.entry(key, build)
    again = cache.entry(dict(reversed(key.items())), build)  # key order does not matter
    assert first == again and len(built) == 1
    assert (first / "x.txt").read_text() == "hello"
    assert json.loads((first / "key.json").read_text()) == key
    assert first.parent.name == "thing" and built[0] != first  # built elsewhere, then renamed into place
    assert cache.entry({**key, "n": 4}, build) != first


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)

    def broken(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.entry({"kind": "thing"}, broken)
    assert [p.name for p in (tmp_path / "thing").iterdir() if not p.name.endswith(".lock")] == []
    assert (cache.entry({"kind": "thing"}, lambda f: (f / "ok").mkdir()) / "ok").exists()


def test_leftovers_of_a_dead_builder_are_removed(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    final = cache.folder({"kind": "thing"})
    final.parent.mkdir(parents=True)
    (final.parent / f".{final.name}.999-dead").mkdir()
    cache.entry({"kind": "thing"}, lambda f: None)
    assert sorted(p.name for p in final.parent.iterdir()) == sorted([final.name, final.name + ".lock"])


def _build_slowly(root: str, marks: str) -> str:
    def build(folder: Path) -> None:
        with open(marks, "a") as f:
            f.write("built\n")
        time.sleep(0.5)
        (folder / "value").write_text("42")

    return (DiskCache(Path(root)).entry({"kind": "race"}, build) / "value").read_text()


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
