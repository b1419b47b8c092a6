"""Prices per device, the cost of a trial, and budget.max_cost stopping a study."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.errors import ConfigError
from hpo.stats.cost import price_per_hour, trial_cost
from tests.helpers import invoke, load_study, parsed, retrieval_config, write_config

PRICES = {"A10G": 1.10, "A100": 2.0, "A100-80GB": 3.0, "H100": 3.95, "cpu": 0.1}


@pytest.mark.parametrize(
    ("device", "price"),
    [
        ("NVIDIA A10G", 1.10),
        ("NVIDIA A100-SXM4-40GB", 2.0),
        ("NVIDIA A100-80GB PCIe", 3.0),
        ("NVIDIA H100 80GB HBM3", 3.95),
        ("cpu", 0.1),
        ("Tesla T4", None),
    ],
)
def test_a_device_is_priced_by_the_longest_key_its_name_contains(device: str, price: float | None) -> None:
    assert price_per_hour(PRICES, device) == price


def test_a_cpu_is_priced_only_by_a_cpu_key() -> None:
    assert price_per_hour({"A10G": 1.1}, "cpu") is None
    assert trial_cost({"A10G": 1.1}, "cpu", 10.0, 1.0) == {
        "device_seconds": 10.0,
        "device_type": "cpu",
        "device_share": 1.0,
    }
    assert trial_cost({"A10G": 1.1}, "NVIDIA A10G", 3600.0, 0.5)["cost_usd"] == 0.55


def test_max_cost_needs_prices_and_prices_are_numbers() -> None:
    with pytest.raises(ConfigError) as info:
        parsed(retrieval_config("m", budget={"n_trials": 2, "max_cost": 5}))
    assert str(info.value) == (
        "x: budget.max_cost needs prices: set cost (dollars per hour by device, e.g. {A10G: 1.10})"
    )
    with pytest.raises(ConfigError) as info:
        parsed(retrieval_config("m", cost={"A10G": -1}))
    assert str(info.value) == "x: cost: A10G: dollars per hour must be a number >= 0 (got -1.0)"


def test_max_cost_stops_the_workers(tmp_path: Path, tiny_model: str) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    # A dollar per second: the first trial alone spends more than the cap.
    raw = retrieval_config(tiny_model, budget={"n_trials": 4, "max_cost": 0.5}, cost={"cpu": 3600})
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", url).exit_code == 0
    result = invoke("worker", "--study", "tiny-retrieval", "--storage", url)
    assert result.exit_code == 0, result.stderr
    study = load_study(url)
    spent = study.trials[0].user_attrs["cost_usd"]
    assert spent > 0.5
    assert [t.state.name for t in study.trials] == ["COMPLETE", "WAITING", "WAITING", "WAITING"]
    assert f"; stopped: budget.max_cost reached (${spent:.2f} of $0.5);" in result.stdout
    status = invoke("status", "--study", "tiny-retrieval", "--storage", url).stdout
    assert f"spend:     ${spent:.2f} over 1 priced trials (" in status and "; budget.max_cost $0.5" in status


def test_a_capped_study_refuses_a_worker_it_cannot_price(tmp_path: Path, tiny_model: str) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": 2, "max_cost": 5}, cost={"A10G": 1.1})
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", url).exit_code == 0
    result = invoke("worker", "--study", "tiny-retrieval", "--storage", url)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: study 'tiny-retrieval' caps its spend (budget.max_cost) but its cost table has no price for "
        "this worker's device 'cpu' (prices: A10G); add one\n"
    )


def test_pruned_trials_record_their_device_time_and_memory_too(finished_study: str) -> None:
    study = load_study(finished_study)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned
    for trial in study.trials:
        record = trial.user_attrs
        assert record["device_type"] == "cpu" and record["device_seconds"] > 0 and record["peak_memory_mb"] > 0
        assert "cost_usd" not in record  # the study has no price table
