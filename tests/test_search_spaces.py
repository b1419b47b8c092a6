"""The shipped study configs stay valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.store.config_file import load_config

SEARCH_SPACES = sorted((Path(__file__).resolve().parents[1] / "search_spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SEARCH_SPACES, ids=[p.name for p in SEARCH_SPACES])
def test_shipped_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.study_name == path.stem


def test_reference_configs_are_shipped() -> None:
    assert {p.name for p in SEARCH_SPACES} >= {
        "bioasq-retrieval.yaml",
        "quora-pairs.yaml",
        "sick-similarity.yaml",
        "demo.yaml",
    }
