from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.settings.config import StudyConfig
from hpo.store.config_file import parse_config
from hpo.training.disk_cache import DiskCache
from hpo.training.result import NullReporter
from hpo.training.run import train_trial
from hpo.training.run_cache import RunCache
from hpo.training.task import Task
from objectives.registry import get_task
from tests.cache_faults import overwrite_json, remove, shorten_arrays, truncate
from tests.helpers import load_data, retrieval_config


def _setup(tiny_model: str) -> tuple[StudyConfig, Any, Task[Any]]:
    config = parse_config(retrieval_config(tiny_model), source="x")
    data = load_data(config)
    return config, data, get_task("retrieval")


def test_runs_from_one_cache_match_runs_without_it(tiny_model: str) -> None:
    config, data, objective = _setup(tiny_model)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    cache = RunCache(objective, data, config)
    cached = [train_trial(objective, params, data, config, NullReporter(), cache=cache) for _ in range(2)]
    fresh = train_trial(objective, params, data, config, NullReporter())
    # each run trains its own copy: the base weights stay as read, so every run starts alike
    assert cached[0].value == cached[1].value == fresh.value
    assert cached[0].intermediate == fresh.intermediate
    stats = cache.token_stats()
    assert stats["reused"] > stats["tokenized"] > 0


def test_cache_keeps_base_weights_and_builds_evaluators_once(tiny_model: str) -> None:
    config, data, objective = _setup(tiny_model)
    cache = RunCache(objective, data, config)
    first = cache.model(tiny_model, "cpu", 32)
    before = {k: v.clone() for k, v in first.state_dict().items()}
    with torch.no_grad():
        for p in first.parameters():
            p.add_(1.0)
    second = cache.model(tiny_model, "cpu", None)
    assert all(torch.equal(before[k], v) for k, v in second.state_dict().items())
    assert first.max_seq_length == 32 and second.max_seq_length != 32
    assert cache.evaluator("dev", capped=True) is cache.evaluator("dev", capped=True)
    assert cache.train_dataset() is cache.train_dataset()


def test_a_second_cache_on_the_same_disk_tokenizes_nothing(tiny_model: str, tmp_path: Path) -> None:
    config, data, objective = _setup(tiny_model)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    first = RunCache(objective, data, config, DiskCache(tmp_path))
    cold = train_trial(objective, params, data, config, NullReporter(), cache=first)
    assert first.token_stats()["tokenized"] > 0
    kinds = sorted(p.name for p in tmp_path.iterdir())
    assert kinds == ["capped_corpus_ids", "token_table"]
    second = RunCache(objective, data, config, DiskCache(tmp_path))  # another worker on the machine
    warm = train_trial(objective, params, data, config, NullReporter(), cache=second)
    assert second.token_stats()["tokenized"] == 0 and second.token_stats()["reused"] > 0
    assert warm.value == cold.value and warm.intermediate == cold.intermediate
    assert warm.eval_corpus == cold.eval_corpus


def test_an_unwritable_disk_cache_only_costs_speed(tiny_model: str, tmp_path: Path) -> None:
    config, data, objective = _setup(tiny_model)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = RunCache(objective, data, config, DiskCache(blocked / "cache"))
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    result = train_trial(objective, params, data, config, NullReporter(), cache=cache)
    fresh = train_trial(objective, params, data, config, NullReporter())
    assert result.value == fresh.value


def _reseal_shortened(path: Path) -> None:
    """Arrays cut to a third, and the manifest rewritten to match: only the table's own checks see it."""
    from hpo.training import cache_entry

    shorten_arrays(path)
    cache_entry.seal(path.parent)


TABLE_DAMAGES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "json overwritten": ("tokens.json", overwrite_json, r"\d+ bytes, the manifest says \d+"),
    "npz truncated": ("tokens.npz", truncate, r"\d+ bytes, the manifest says \d+"),
    "npz with a third of each array": ("tokens.npz", shorten_arrays, r"\d+ bytes, the manifest says \d+"),
    "npz missing": ("tokens.npz", remove, "missing"),
    "npz resealed short": (
        "tokens.npz",
        _reseal_shortened,
        r"ValueError: \S+/tokens\.npz: offsets of shape \(\d+,\) do not",
    ),
}
CORPUS_DAMAGES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "json overwritten": ("value.json", overwrite_json, r"\d+ bytes, the manifest says \d+"),
    "json truncated": ("value.json", truncate, r"\d+ bytes, the manifest says \d+"),
    "key missing": ("key.json", remove, "missing"),
}


@pytest.mark.parametrize(
    ("kind", "damage"),
    [("token_table", d) for d in TABLE_DAMAGES] + [("capped_corpus_ids", d) for d in CORPUS_DAMAGES],
)
def test_a_damaged_shared_entry_is_rebuilt_with_one_warning_naming_it(
    tiny_model: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, damage: str
) -> None:
    config, data, objective = _setup(tiny_model)
    first = RunCache(objective, data, config, DiskCache(tmp_path))
    first.model(tiny_model, "cpu", None)
    _, corpus = first.evaluator("dev", capped=True)
    [folder] = [p for p in (tmp_path / kind).iterdir() if p.is_dir()]
    name, harm, what = (TABLE_DAMAGES if kind == "token_table" else CORPUS_DAMAGES)[damage]
    harm(folder / name)
    caplog.set_level(logging.WARNING)
    second = RunCache(objective, data, config, DiskCache(tmp_path))  # the next worker on the machine
    second.model(tiny_model, "cpu", None)
    assert second.evaluator("dev", capped=True)[1] == corpus
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    named = folder if damage == "npz resealed short" else folder / name
    aside = rf"; set aside as {folder.name}\.damaged-\S+ and rebuilt"
    assert re.fullmatch(rf"damaged disk-cache entry {re.escape(str(named))}: {what}.*{aside}", warning), warning
    assert (second.table_texts_tokenized > 0) == (kind == "token_table")  # rebuilt, not read
    third = RunCache(objective, data, config, DiskCache(tmp_path))
    third.model(tiny_model, "cpu", None)
    assert third.table_texts_tokenized == 0 and len(caplog.records) == 1  # the rebuilt entry serves
