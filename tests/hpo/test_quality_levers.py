"""The quality levers end to end: a study that mines hard negatives and trains Matryoshka dimensions,
its workers sharing the mining cache, the exported best trial, its retraining and the report."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hpo import attrs
from tests.helpers import invoke, load_study, retrieval_config, storage, write_config

MINING = {"miner": "bm25", "num_negatives": 2, "range_min": 1, "range_max": 20, "sampling": "random"}


def test_study_with_mined_negatives_and_matryoshka_dimensions(tmp_path: Path, tiny_model: str) -> None:
    raw = retrieval_config(tiny_model, budget={"n_trials": 2}, pruner={"type": "none"})
    raw["search_space"].update(hard_negatives=MINING, matryoshka_dims=[32, 16])
    raw["evaluation"]["matryoshka_dim"] = 32
    url = f"sqlite:///{tmp_path}/study.db"
    # The user's default cache folder is elsewhere, so only $HPO_CACHE can serve the mined negatives.
    env = {"HPO_CACHE": str(tmp_path / "cache"), "XDG_CACHE_HOME": str(tmp_path / "user-cache")}
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", url).exit_code == 0
    # Two worker processes in turn: the second finds the first one's mined negatives on disk.
    for _ in range(2):
        ran = invoke("worker", "--study", "tiny-retrieval", "--storage", url, "--n-trials", "1", env=env)
        assert ran.exit_code == 0, ran.stderr
    trials = load_study(url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert [t.user_attrs[attrs.MINING_CACHE] for t in trials] == ["miss", "hit"]
    assert all(t.user_attrs[attrs.MINING_SECONDS] >= 0 for t in trials)
    assert trials[0].user_attrs[attrs.MINED_PAIRS]["miner"] == "bm25"
    for trial in trials:
        dims = trial.user_attrs[attrs.DIMENSION_METRICS]
        assert list(dims) == ["64", "32", "16"]
        assert trial.value == dims["32"] == trial.user_attrs[attrs.METRICS]["dev_cosine_ndcg@10"]

    from optuna_dashboard._note import get_note_from_system_attrs

    backend = storage(url).backend
    note = get_note_from_system_attrs(
        backend.get_study_system_attrs(backend.get_study_id_from_name("tiny-retrieval")), None
    )["body"]
    assert "| hard_negatives.miner | bm25 (fixed) |" in note
    assert "| matryoshka_dims | [32, 16] (fixed) |" in note

    best = tmp_path / "best.yaml"
    assert invoke("best", "--study", "tiny-retrieval", "--storage", url, "-o", str(best)).exit_code == 0
    exported = yaml.safe_load(best.read_text())
    assert exported["training"]["hard_negatives"] == {
        **MINING,
        "miner_model": None,
        "margin": None,
        "relative_margin": None,
    }
    assert exported["training"]["matryoshka_dims"] == [32, 16]
    assert exported["config"]["evaluation"]["matryoshka_dim"] == 32

    out = tmp_path / "final"
    trained = invoke("train", str(best), "-o", str(out), env=env)
    assert trained.exit_code == 0, trained.stderr
    final = json.loads((out / "hpo_final.json").read_text())
    assert final["training"]["hard_negatives"]["miner"] == "bm25"
    assert final["mining_cache"] == "hit"  # retrained with the search's own mined negatives
    lines = trained.stdout.splitlines()
    tuned_test = [line.split()[:3] for line in lines if line.startswith("tuned [") and " test " in line]
    assert tuned_test == [["tuned", "[64d]", "test"], ["tuned", "[32d]", "test"], ["tuned", "[16d]", "test"]]
    assert final["test"]["value"] == final["test"]["metrics"]["test_cosine_ndcg@10_dim32"]

    report = invoke("report", "--study", "tiny-retrieval", "--storage", url, "-o", str(tmp_path / "report"))
    assert report.exit_code == 0, report.stderr
    assert (tmp_path / "report" / "dimensions.png").stat().st_size > 0
    assert "### dimensions" in (tmp_path / "report" / "report.md").read_text()
