"""End to end: create-study, two real `hpo worker` processes sharing the budget, then `hpo best`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hpo.errors import UsageError
from hpo.workers.worker import device_share_from
from tests.helpers import (
    doomed_model,
    hpo,
    load_study,
    retrieval_config,
    run_workers,
    seed_one_good_trial,
    write_config,
)

BUDGET = 5


def run_study_with_two_workers(storage: str, tmp_path: Path, tiny_model: str) -> None:
    raw = retrieval_config(tiny_model, budget={"n_trials": BUDGET})
    raw["search_space"]["learning_rate"] = {"type": "float", "low": 1e-9, "high": 1e-8, "log": True}
    created = hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage)
    assert created.returncode == 0, created.stderr
    assert created.stdout == "tiny-retrieval\n"
    seed_one_good_trial(storage)

    results = run_workers(storage, 2)
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert "stopped: study budget done" in out
    outputs = [(out, err) for _, out, err in results]

    study = load_study(storage)
    states = [t.state.name for t in study.trials]
    assert len(states) == BUDGET
    assert states.count("COMPLETE") + states.count("PRUNED") == BUDGET
    assert states.count("PRUNED") >= 1
    ran = sum(int(out.split("ran ")[1].split(" trial")[0]) for out, _ in outputs)
    assert ran == BUDGET  # the budget is shared, not per worker
    for trial in study.trials:
        assert set(trial.intermediate_values) <= {32, 64, 96}  # steps are samples seen
        assert trial.intermediate_values
        assert trial.user_attrs["training"]["model"] == tiny_model
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert {
        "metrics",
        "samples_seen",
        "train_samples_per_second",
        "peak_memory_mb",
        "device",
        "eval_corpus",
        "seconds",
    } <= set(complete[0].user_attrs)
    assert complete[0].user_attrs["seconds"]["train"] > 0
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned[0].user_attrs["seconds"]["evaluate_intermediate"] > 0

    best_path = tmp_path / "best.yaml"
    best = hpo("best", "--study", "tiny-retrieval", "-o", str(best_path), storage=storage)
    assert best.returncode == 0, best.stderr
    assert best.stdout.endswith(f"wrote {best_path}\n")
    document = yaml.safe_load(best_path.read_text())
    assert study.best_trial.params["learning_rate"] == 1e-3  # the seeded good trial
    assert document["trial"]["number"] == study.best_trial.number
    assert document["metric"]["value"] == study.best_value
    assert document["metric"]["key"] == "dev_cosine_ndcg@10"
    assert document["params"] == study.best_params
    assert document["training"]["learning_rate"] == study.best_params["learning_rate"]
    assert document["config"]["study_name"] == "tiny-retrieval"
    assert set(document["versions"]) >= {"optuna", "sentence-transformers", "torch"}
    assert "sqlite" not in best_path.read_text() and "postgresql" not in best_path.read_text()

    status = hpo("status", "--study", "tiny-retrieval", storage=storage)
    assert f"(budget {BUDGET})" in status.stdout
    assert "0 running, 0 waiting" in status.stdout


def test_two_workers_share_the_budget(tmp_path: Path, tiny_model: str, storage_url: str) -> None:
    run_study_with_two_workers(storage_url, tmp_path, tiny_model)


def test_failing_trials_are_recorded_and_replaced(tmp_path: Path, tiny_model: str) -> None:
    model = doomed_model(tiny_model, tmp_path)
    raw = retrieval_config(model, budget={"n_trials": 2})
    raw["fault_tolerance"] = {"max_consecutive_failures": 2}
    storage = f"sqlite:///{tmp_path}/study.db"
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    shutil.rmtree(model)  # every trial now fails to load its model
    result = hpo("worker", "--study", "tiny-retrieval", storage=storage)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: stopping after 2 consecutive failed trials; the config is probably broken "
        "(see fail_reason in: hpo status --study tiny-retrieval)"
    )
    study = load_study(storage)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert len(failed) == 2
    assert all(t.user_attrs["fail_reason"].startswith(f"TrialError: cannot load model '{model}'") for t in failed)
    waiting = [t for t in study.trials if t.state.name == "WAITING"]
    assert len(waiting) == 2  # the budget is kept for a fixed config
    assert "RUNNING" not in {t.state.name for t in study.trials}


def test_device_share_comes_from_the_parent_or_is_the_whole_device() -> None:
    assert device_share_from({}) == 1.0
    assert device_share_from({"HPO_DEVICE_SHARE": "0.25"}) == 0.25
    with pytest.raises(UsageError, match=r"^HPO_DEVICE_SHARE='half': expected a number in \(0, 1\]$"):
        device_share_from({"HPO_DEVICE_SHARE": "half"})
