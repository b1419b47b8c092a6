"""Decisions a user can trust, end to end with the tiny model: what each trial records (cost, seed,
encoding speed, item scores), the verdicts of hpo status, best.yaml, hpo train and the model card,
and the quality-vs-cost fronts of hpo best."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from hpo.stats.item_scores import ItemScores
from tests.helpers import invoke, jsonl, load_study, pair_rows, pairs_config, retrieval_config, storage, write_config

VERDICTS = {"WIN", "MARGINAL", "TIE", "REGRESSION"}


@dataclass(frozen=True)
class Decided:
    url: str
    model: str
    baseline_stderr: str


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Decided:
    """A three-trial retrieval study priced at $3.60 per CPU hour, with its zero-shot baseline."""
    directory = tmp_path_factory.mktemp("decided")
    url = f"sqlite:///{directory}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 3}, pruner={"type": "none"}, cost={"cpu": 3.6})
    assert invoke("create-study", "--config", str(write_config(directory, raw)), "--storage", url).exit_code == 0
    baseline = invoke("baseline", "--study", "tiny-retrieval", "--storage", url, "--progress", "bars")
    assert baseline.exit_code == 0, baseline.stderr
    assert invoke("worker", "--study", "tiny-retrieval", "--storage", url).exit_code == 0
    return Decided(url, tiny_model, baseline.stderr)


def _ranked(url: str) -> list[optuna.trial.FrozenTrial]:
    return sorted(load_study(url).trials, key=lambda t: t.value or 0.0, reverse=True)


def test_each_trial_records_its_cost_seed_speed_and_item_scores(decided: Decided) -> None:
    study = load_study(decided.url)
    dev_queries = study.user_attrs["hpo_data_summary"]["dev_queries"]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    for trial in study.trials:
        record = trial.user_attrs
        assert record["device_type"] == "cpu" and record["device_share"] == 1.0
        assert record["device_seconds"] >= record["wall_seconds"] * 0.9
        assert record["cost_usd"] == pytest.approx(record["device_seconds"] * 3.6 / 3600, rel=1e-3)
        assert record["seed"] == 42
        assert record["encode_texts_per_second"] > 0 and record["embedding_dim"] == 64
        items = ItemScores.from_record(record["item_scores"])
        assert items.n == dev_queries
        assert items.scores["ndcg@10"].mean() == pytest.approx(trial.value, abs=1e-4)
    assert "Batches" in decided.baseline_stderr  # encoding progress, with its rate and ETA


def test_status_names_corpora_and_shows_verdicts_and_spend(decided: Decided) -> None:
    best, runner_up = _ranked(decided.url)[:2]
    text = invoke("status", "--study", "tiny-retrieval", "--storage", decided.url).stdout
    lines = text.splitlines()
    assert next(line for line in lines if line.startswith("best:")).startswith(
        f"best:      trial {best.number}: {best.value:.4f} on full ("
    )
    verdicts = [line for line in lines if line.startswith("verdict:")]
    assert verdicts[0].startswith(
        f"verdict:   trial {best.number} vs trial {runner_up.number} (runner-up), dev ndcg@10 on full ("
    )
    assert verdicts[1].startswith(f"verdict:   trial {best.number} vs {decided.model} (zero-shot), dev ndcg@10 on")
    assert any(line.startswith("spend:     $") and "priced trials" in line for line in lines)

    status = json.loads(invoke("status", "--study", "tiny-retrieval", "--storage", decided.url, "--json").stdout)
    first = status["verdicts"][0]
    assert (
        first["verdict"] in VERDICTS
        and first["n"] == load_study(decided.url).user_attrs["hpo_data_summary"]["dev_queries"]
    )
    assert first["difference"] == pytest.approx((best.value or 0.0) - (runner_up.value or 0.0), abs=1e-4)
    assert first["low"] <= first["difference"] <= first["high"]
    total = sum(t.user_attrs["cost_usd"] for t in load_study(decided.url).trials)
    assert status["spend"]["dollars"] == pytest.approx(total, abs=1e-4)

    from optuna_dashboard._note import get_note_from_system_attrs

    rdb = storage(decided.url).backend
    note = get_note_from_system_attrs(rdb.get_study_system_attrs(rdb.get_study_id_from_name("tiny-retrieval")), None)
    body = note["body"]
    assert "**Verdicts** (paired bootstrap, 95% interval, min_gain 0.01)" in body
    assert f"- trial {best.number} vs trial {runner_up.number} (runner-up), dev ndcg@10 on full (" in body
    assert "**Spend so far**: $" in body
    assert "| model | dev | scored on | test | scored on |" in body


def test_best_yaml_and_hpo_train_carry_the_verdicts(decided: Decided, tmp_path: Path) -> None:
    runner_up = _ranked(decided.url)[1]
    path = tmp_path / "best.yaml"
    exported = invoke("best", "--study", "tiny-retrieval", "--storage", decided.url, "-o", str(path))
    assert exported.exit_code == 0, exported.stderr
    document = yaml.safe_load(path.read_text())
    references = [row["reference"] for row in document["significance"]]
    assert references == [f"trial {runner_up.number} (runner-up)", f"{decided.model} (zero-shot)"]
    assert all(row["verdict"] in VERDICTS and row["split"] == "dev" for row in document["significance"])
    assert document["seed"] == 42 and document["trial"]["cost_usd"] > 0
    assert set(document["baselines"][decided.model]) == {"dev", "test"}
    assert f"verdict: vs trial {runner_up.number} (runner-up), dev ndcg@10: " in exported.stdout

    out = tmp_path / "final"
    trained = invoke("train", str(path), "-o", str(out), "--seeds", "2")
    assert trained.exit_code == 0, trained.stderr
    report = json.loads((out / "hpo_final.json").read_text())
    baseline = report["baselines_test"][f"{decided.model} (zero-shot)"]
    stored = load_study(decided.url).user_attrs["hpo_baselines"][decided.model]["test"]
    assert baseline["reused_from"] == "hpo baseline" and baseline["value"] == stored["value"]
    assert "zero-shot scores reused from hpo baseline (same model, same items)" in trained.stdout
    verdict = report["verdicts_test"][0]
    assert verdict["verdict"] in VERDICTS and verdict["reference"] == f"{decided.model} (zero-shot)"
    assert verdict["difference"] == pytest.approx(report["test"]["value"] - baseline["value"], abs=1e-4)
    from hpo.stats.significance import threshold_note

    line = next(line for line in trained.stdout.splitlines() if line.startswith("verdict: "))
    assert line.startswith(f"verdict: tuned vs {decided.model} (zero-shot), test ndcg@10 on full (")
    note = threshold_note(verdict["verdict"], verdict["min_gain"])  # " (gain >= min_gain 0.01)" after a WIN
    assert line.endswith(f"{verdict['verdict']}{note}, {verdict['n']} items")
    assert [run["seed"] for run in report["other_seeds"]] == [43] and report["seed"] == 42
    assert report["over_seeds"]["test"]["runs"] == 2
    assert "dev ndcg@10 over 2 seeds: " in trained.stdout
    card = (out / "README.md").read_text()
    assert "### Significance" in card and f"| {Path(decided.model).name} (zero-shot) | ndcg@10 | " in card
    assert "### Seeds" in card and "Scored on: full (" in card


def test_pareto_fronts_and_exports_under_limits(decided: Decided, tmp_path: Path) -> None:
    study = load_study(decided.url)
    listing = invoke("best", "--study", "tiny-retrieval", "--storage", decided.url, "--pareto")
    assert listing.exit_code == 0, listing.stderr
    assert "front of ndcg@10 against dollars per trial (" in listing.stdout
    assert "front of ndcg@10 against encoding ms per text (" in listing.stdout

    cheapest = min(t.user_attrs["cost_usd"] for t in study.trials)
    within = [t for t in study.trials if t.user_attrs["cost_usd"] <= cheapest]
    expected = max(within, key=lambda t: t.value or 0.0)
    path = tmp_path / "cheap.yaml"
    result = invoke(
        "best", "--study", "tiny-retrieval", "--storage", decided.url, "--max-cost", str(cheapest), "-o", str(path)
    )
    assert result.exit_code == 0, result.stderr
    document = yaml.safe_load(path.read_text())
    assert document["trial"]["number"] == expected.number
    assert document["selected_by"] == f"the best trial with cost <= ${cheapest:g}"

    fastest = invoke("best", "--study", "tiny-retrieval", "--storage", decided.url, "--max-latency", "1000000")
    assert yaml.safe_load(fastest.stdout)["trial"]["number"] == _ranked(decided.url)[0].number

    none = invoke("best", "--study", "tiny-retrieval", "--storage", decided.url, "--max-cost", "0")
    assert none.exit_code == 2
    assert none.stderr == (
        "error: no complete trial of study 'tiny-retrieval' has cost <= $0 (see: hpo best --pareto)\n"
    )
    both = invoke("best", "--study", "tiny-retrieval", "--storage", decided.url, "--confirmed", "--max-cost", "1")
    assert both.stderr == "error: --confirmed cannot be combined with --max-cost or --max-latency\n"


def test_pair_tests_use_dev_thresholds_and_max_test_queries(tmp_path: Path, tiny_model: str) -> None:
    train = jsonl(tmp_path / "pairs.jsonl", pair_rows(400))
    raw = pairs_config(tiny_model, train, max_train_samples=96, max_test_queries=30)
    raw["budget"] = {"n_trials": 1}
    url = f"sqlite:///{tmp_path}/pairs.db"
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", url).exit_code == 0
    assert invoke("worker", "--study", "pairs", "--storage", url).exit_code == 0
    best = tmp_path / "best.yaml"
    assert invoke("best", "--study", "pairs", "--storage", url, "-o", str(best)).exit_code == 0

    trained = invoke("train", str(best), "-o", str(tmp_path / "final"), "--max-test-queries", "20")
    assert trained.exit_code == 0, trained.stderr
    assert "test accuracy and f1 use the decision thresholds each model chose on dev" in trained.stdout
    report: dict[str, Any] = json.loads((tmp_path / "final" / "hpo_final.json").read_text())
    assert report["max_test_queries"] == 20 and report["test"]["corpus"] == "20 test pairs"
    test, dev = report["test"], report["dev"]
    assert test["thresholds_from"] == "dev"
    assert test["metrics"]["test_cosine_accuracy_threshold"] == dev["metrics"]["dev_cosine_accuracy_threshold"]
    assert test["metrics"]["test_cosine_f1_threshold"] == dev["metrics"]["dev_cosine_f1_threshold"]
    zero_shot = report["baselines_test"][f"{tiny_model} (zero-shot)"]
    assert zero_shot["thresholds_from"] == "dev" and "reused_from" not in zero_shot
    assert report["verdicts_test"][0]["metric"] == "ap" and report["verdicts_test"][0]["n"] == 20
