"""``hpo tune`` end to end on a small similarity set with 0-5 scores and the tiny model: the plan,
``--plan-only``, the whole run with its outputs, and a resume after Ctrl-C."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hpo.data.demo import stdlib_docstring_rows
from tests.helpers import invoke


@pytest.fixture(scope="module")
def scored_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A train file only (dev and test are carved): a docstring's summary against its own text
    (score 5) or against another one's (0 to 2), every text in one pair only (so carving can split them)."""
    rows = stdlib_docstring_rows()[:240]
    rng = random.Random(0)
    pairs = [{"sentence1": r["query"], "sentence2": r["positive"], "similarity": 5} for r in rows[:120]]
    others = rows[120:]
    shuffled = [others[(i + 1) % len(others)]["positive"] for i in range(len(others))]
    for row, text in zip(others, shuffled, strict=True):
        pairs.append({"sentence1": row["query"], "sentence2": text, "similarity": rng.choice([0, 1, 2])})
    folder = tmp_path_factory.mktemp("scored")
    (folder / "train.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return folder


def _actual(out: Path) -> dict[str, float]:
    plan = out / "plan.json"
    return dict(json.loads(plan.read_text())["actual_seconds"]) if plan.is_file() else {}


def _tune_args(data: Path, out: Path, model: str, budget: str = "90s") -> list[str]:
    return ["tune", str(data), "--budget", budget, "-o", str(out), "--models", model]


def test_plan_only_writes_the_study_a_user_would_write(scored_pairs: Path, tiny_model: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(*_tune_args(scored_pairs, out, tiny_model), "--plan-only")
    assert result.exit_code == 0, result.output
    assert "task  similarity" in result.stdout
    assert "scores in [0, 5] rescaled to [0, 1] from [0, 5]" in result.stdout
    assert "predicted: probe" in result.stdout
    config = yaml.safe_load((out / "study.yaml").read_text())
    assert config["objective"] == "similarity"
    assert config["data"]["score_range"] == [0.0, 5.0]
    assert config["warm_start"] == {"default_recipe": True}
    plan = json.loads((out / "plan.json").read_text())
    assert set(plan["predicted_seconds"]) == {"probe", "baselines", "search", "confirm", "final"}
    assert plan["actual_seconds"]["probe"] > 0
    assert not (out / "study.db").exists()  # nothing but the plan
    created = invoke("create-study", "--config", str(out / "study.yaml"), "--storage", f"sqlite:///{tmp_path}/x.db")
    assert created.exit_code == 0, created.output
    assert created.stdout.strip() == config["study_name"]


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes_to_a_tested_model(
    scored_pairs: Path, tiny_model: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "hpo", *_tune_args(scored_pairs, out, tiny_model)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None and "baselines" not in _actual(out):
        time.sleep(0.5)  # until the search has started
    time.sleep(3)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr.decode()[-2000:]
    assert "stopped; what is done is kept: run the same command again to resume" in stderr.decode()
    assert not (out / "model").exists()

    again = invoke(*_tune_args(scored_pairs, out, tiny_model))
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"resuming the tune in {out}")
    for name in ("model/hpo_final.json", "model/README.md", "best.yaml", "study.yaml", "plan.json", "report.md"):
        assert (out / name).is_file(), name
    lines = again.stdout.splitlines()
    assert any(line.startswith("tuned vs ") and "(zero-shot), test spearman" in line for line in lines), lines
    assert any(line.startswith("default recipe: ") or "vs default recipe, test spearman" in line for line in lines)
    actual = _actual(out)
    assert {"probe", "baselines", "search", "final"} <= set(actual)
    report = (out / "report.md").read_text()
    assert "| phase | predicted | actual |" in report and "## Verdicts" in report


def test_trials_the_deadline_left_queued_are_closed_with_the_reason(
    scored_pairs: Path, tiny_model: str, tmp_path: Path
) -> None:
    """Queued search trials do not linger after the search: failed with a reason the study shows."""
    import optuna

    from hpo import attrs
    from hpo.results.new_study import create_study_from_file
    from hpo.store.storage import StorageUrl, open_storage
    from hpo.store.study import load_stored_study
    from hpo.tune.run import NOT_RUN, close_search

    out = tmp_path / "out"
    assert invoke(*_tune_args(scored_pairs, out, tiny_model), "--plan-only").exit_code == 0
    url = StorageUrl.parse(f"sqlite:///{tmp_path / 'study.db'}")
    name = create_study_from_file(str(out / "study.yaml"), url, load_if_exists=False)
    stored = load_stored_study(open_storage(url), name)
    queued = len(stored.study.get_trials(states=(optuna.trial.TrialState.WAITING,)))
    lines: list[str] = []
    assert close_search(stored, lines.append) == queued > 0
    trials = stored.study.get_trials()
    assert {t.state for t in trials} == {optuna.trial.TrialState.FAIL}
    assert {t.user_attrs[attrs.FAIL_REASON] for t in trials} == {NOT_RUN}
    assert lines == [
        f"{queued} queued trials not run: the search's time ran out (marked failed, '{NOT_RUN}')",
        "confirmation skipped: the search ran out of time before its queue was done",
    ]
    lines.clear()
    assert close_search(stored, lines.append) == queued  # a resume: the same count, nothing new closed
    assert lines == ["confirmation skipped: the search ran out of time before its queue was done"]
