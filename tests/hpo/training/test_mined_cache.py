"""Mined-negative cache entries that are damaged, or a cache folder that cannot be written: mined again, one warning."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpo.settings.config import StudyConfig
from hpo.training.mined_cache import MinedCache
from hpo.training.run_cache import RunCache
from objectives.registry import get_task
from tests.cache_faults import overwrite_json, read_only, remove, shorten_arrays, truncate
from tests.helpers import load_data, parsed, retrieval_config

__all__ = ["read_only"]  # a fixture
PARAMS = {"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3}


def _shorten_payload(path: Path) -> None:
    """Valid JSON, its payload cut to a third, its digest left as it was."""
    entry = json.loads(path.read_text())
    entry["payload"] = entry["payload"][: len(entry["payload"]) // 3]
    path.write_text(json.dumps(entry))


def _out_of_range_with_its_digest(path: Path) -> None:
    """A payload naming pairs that do not exist, with a digest that matches it: only reading it shows the damage."""
    from hpo.training.cache_entry import payload_digest

    entry = json.loads(path.read_text())
    entry["payload"] = [[10_000, [0]]]
    entry["sha256"] = payload_digest(entry["payload"])
    path.write_text(json.dumps(entry))


def _config(model: str, miner: str) -> StudyConfig:
    raw = retrieval_config(model)
    raw["search_space"]["hard_negatives"] = {"miner": miner, "num_negatives": 1, "range_max": 20}
    if miner == "dense":
        raw["search_space"]["hard_negatives"]["miner_model"] = model
    return parsed(raw)


def _empty_object(path: Path) -> None:
    path.write_text("{}")


def _mine(tmp_path: Path, model: str, miner: str) -> tuple[Any, Any]:
    config = _config(model, miner)
    data = load_data(config)
    cache = RunCache(get_task("retrieval"), data, config, mined=MinedCache(tmp_path / "mined"))
    return cache.mined_train_dataset(config.search_space.resolve(PARAMS), "cpu", "fp32")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


ENTRY_DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "overwritten": (overwrite_json, r"not JSON \(JSONDecodeError: .*\)"),
    "truncated": (truncate, r"not JSON \(JSONDecodeError: .*\)"),
    "a third of the payload": (_shorten_payload, "its payload does not match its sha256"),
    "out of range, digest matching": (_out_of_range_with_its_digest, "IndexError: list index out of range"),
    "another JSON object": (_empty_object, "not a mined-negatives entry of format 2"),
}


@pytest.mark.parametrize("damage", sorted(ENTRY_DAMAGES))
def test_a_damaged_mined_entry_is_set_aside_and_mined_again(
    tmp_path: Path, tiny_model: str, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    harm, what = ENTRY_DAMAGES[damage]
    dataset, record = _mine(tmp_path, tiny_model, "bm25")
    assert record.cache == "miss"
    [entry] = (tmp_path / "mined").glob("*.json")
    harm(entry)
    caplog.set_level(logging.WARNING)
    again, record = _mine(tmp_path, tiny_model, "bm25")
    assert record.cache == "miss" and again.to_list() == dataset.to_list()
    [warning] = _warnings(caplog)
    aside = rf"; set aside as {entry.name}\.damaged-\S+ and rebuilt"
    assert re.fullmatch(rf"damaged disk-cache entry {re.escape(str(entry))}: {what}{aside}", warning), warning
    assert len(list((tmp_path / "mined").glob("*.damaged-*"))) == 1
    assert _mine(tmp_path, tiny_model, "bm25")[1].cache == "hit" and len(caplog.records) == 1


FOLDER_DAMAGES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "npy truncated": ("corpus_embeddings_", truncate, r"\d+ bytes, the manifest says \d+"),
    "npy with a third of its rows": ("corpus_embeddings_", shorten_arrays, r"\d+ bytes, the manifest says \d+"),
    "npy missing": ("query_embeddings_", remove, "missing"),
    "manifest overwritten": ("manifest.json", overwrite_json, r"unreadable \(JSONDecodeError: .*\)"),
}


def test_damaged_miner_embeddings_are_set_aside_and_encoded_again(
    tmp_path: Path, tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every kind of damage in turn (one encoding each: a test per kind would mine three times as often)."""
    dataset, _ = _mine(tmp_path, tiny_model, "dense")
    [folder] = [p for p in (tmp_path / "mined").iterdir() if p.is_dir()]
    caplog.set_level(logging.WARNING)
    for prefix, harm, what in FOLDER_DAMAGES.values():
        caplog.clear()
        [damaged] = folder.glob(f"{prefix}*")
        harm(damaged)
        for entry in (tmp_path / "mined").glob("*.json"):  # the negatives themselves: mined again from the embeddings
            entry.unlink()
        again, record = _mine(tmp_path, tiny_model, "dense")
        assert record.cache == "miss" and again.to_list() == dataset.to_list()
        [warning] = _warnings(caplog)
        aside = rf"; set aside as {folder.name}\.damaged-\S+ and rebuilt"
        assert re.fullmatch(rf"damaged disk-cache entry {re.escape(str(damaged))}: {what}{aside}", warning), warning
    assert len(list(folder.parent.glob(f"{folder.name}.damaged-*"))) == len(FOLDER_DAMAGES)
    for entry in (tmp_path / "mined").glob("*.json"):
        entry.unlink()
    caplog.clear()
    assert _mine(tmp_path, tiny_model, "dense")[1].cache == "embeddings" and not caplog.records


def test_a_read_only_mined_cache_is_given_up_with_one_warning(
    tmp_path: Path, tiny_model: str, read_only: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "mined").mkdir()
    read_only(tmp_path / "mined")
    caplog.set_level(logging.WARNING)
    config = _config(tiny_model, "bm25")
    cache = RunCache(get_task("retrieval"), load_data(config), config, mined=MinedCache(tmp_path / "mined"))
    records = [cache.mined_train_dataset(config.search_space.resolve(PARAMS), "cpu", "fp32")[1] for _ in range(2)]
    assert [r.cache for r in records] == ["miss", "hit"]  # the second from this process's memory
    [warning] = _warnings(caplog)
    assert warning.startswith(f"disk cache {tmp_path / 'mined'} cannot be written (")
