from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpo.errors import TrialError
from hpo.store.config_file import parse_config
from hpo.training.precision import best_precision
from hpo.training.result import NullReporter, Pruned
from hpo.training.run import TrainingRun, train_model, train_trial
from objectives.registry import get_task
from tests.helpers import jsonl, load_data, pair_rows, retrieval_config


class PruneAt:
    """Asks to prune once ``samples`` have been reported."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self.reported: list[int] = []

    def report(self, value: float, samples: int) -> None:
        self.reported.append(samples)

    def should_prune(self) -> bool:
        return self.reported[-1] >= self.samples

    def progress(self, samples: int, total: int) -> None:
        pass


def _retrieval(tiny_model: str, **search: Any) -> tuple[Any, Any]:
    raw = retrieval_config(tiny_model)
    raw["search_space"].update(search)
    config = parse_config(raw, source="x")
    return config, load_data(config)


def _pair_config(tiny_model: str, tmp_path: Path, loss: str, metric: str) -> Any:
    raw = retrieval_config(tiny_model, objective="pair-classification", metric=metric)
    raw["search_space"]["loss"] = {loss: {"margin": 0.4}}
    raw["data"] = {
        "train": {"path": jsonl(tmp_path / "pairs.jsonl", pair_rows(160))},
        "max_train_samples": 96,
    }
    return parse_config(raw, source="x")


def test_retrieval_run_reports_at_fixed_sample_counts(tiny_model: str) -> None:
    config, data = _retrieval(tiny_model, batch_size=16)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    reporter = NullReporter()
    result = train_trial(get_task("retrieval"), params, data, config, reporter)
    # 96 pairs, every 32 samples; the end of training is scored on the capped corpus for the
    # pruner, then on the full one for the trial's value
    assert list(reporter.values) == [32, 64, 96]
    assert result.intermediate == reporter.values
    assert result.samples_seen == 96
    assert set(result.seconds) == {"model", "setup", "train", "evaluate_intermediate", "report", "evaluate_final"}
    assert result.metric_key == "dev_cosine_ndcg@10"
    assert result.value == result.metrics["dev_cosine_ndcg@10"]
    assert {"dev_cosine_mrr@10", "dev_cosine_recall@10", "dev_cosine_map@100"} <= set(result.metrics)
    assert result.eval_corpus.startswith("full (")
    assert result.device == f"cpu, {best_precision('cpu')}"
    assert result.peak_memory_mb > 0 and result.train_samples_per_second > 0


def test_schedule_is_in_samples_whatever_the_batch_size(tiny_model: str) -> None:
    config, data = _retrieval(tiny_model, batch_size=32)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    reporter = NullReporter()
    train_trial(get_task("retrieval"), params, data, config, reporter)
    assert list(reporter.values) == [32, 64, 96]


def test_capped_final_reuses_the_last_intermediate_evaluation(tiny_model: str) -> None:
    raw = retrieval_config(tiny_model)
    raw["evaluation"]["final_corpus"] = "capped"
    config = parse_config(raw, source="x")
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    reporter = NullReporter()
    result = train_trial(get_task("retrieval"), params, load_data(config), config, reporter)
    assert list(reporter.values) == [32, 64, 96]
    assert result.value == reporter.values[96]
    assert "evaluate_final" not in result.seconds
    assert result.eval_corpus.startswith("capped (60 of")


@pytest.mark.parametrize(("at", "reported"), [(32, [32]), (96, [32, 64, 96])])
def test_pruned_run_stops_at_once_and_skips_the_full_corpus(tiny_model: str, at: int, reported: list[int]) -> None:
    # At 96 training has ended: the pruner sees the capped score before the full corpus is paid for.
    config, data = _retrieval(tiny_model)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    reporter = PruneAt(at)
    with pytest.raises(Pruned) as info:
        train_trial(get_task("retrieval"), params, data, config, reporter)
    assert info.value.samples == at
    assert reporter.reported == reported
    assert info.value.eval_corpus.startswith("capped (")
    assert "evaluate_final" not in info.value.seconds


def test_a_pruned_run_cleans_up_and_a_kept_model_comes_back_unmetered(tiny_model: str) -> None:
    config, data = _retrieval(tiny_model)
    params = config.search_space.resolve({"MultipleNegativesRankingLoss.scale": 20.0, "learning_rate": 1e-3})
    run = TrainingRun(get_task("retrieval"), params, data, config, PruneAt(32))
    with pytest.raises(Pruned), run:
        run.result()
    assert "encode" not in vars(run.model)  # the encode meter is off the model
    result, model = train_model(get_task("retrieval"), params, data, config, NullReporter())
    assert result.samples_seen == 96 and "encode" not in vars(model)


def test_non_finite_loss_fails_the_run(tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _pair_config(tiny_model, tmp_path, "ContrastiveLoss", "ap")
    params = config.search_space.resolve({"learning_rate": 1e-3})
    broken = params.model_copy(update={"loss_params": {"margin": float("nan")}})
    task = get_task("pair-classification")
    monkeypatch.setattr(task, "check_run", lambda params: None)  # the engine's own guard, behind the task's check
    with pytest.raises(TrialError, match=r"^training loss became nan after 16 samples$"):
        train_trial(task, broken, load_data(config), config, NullReporter())


@pytest.mark.parametrize("loss", ["CachedMultipleNegativesRankingLoss", "MultipleNegativesSymmetricRankingLoss"])
def test_other_retrieval_losses_train(tiny_model: str, loss: str) -> None:
    config, data = _retrieval(tiny_model, loss=loss)
    params = config.search_space.resolve({"learning_rate": 1e-3})
    result = train_trial(get_task("retrieval"), params, data, config, NullReporter())
    assert 0.0 <= result.value <= 1.0


@pytest.mark.parametrize(("loss", "metric"), [("OnlineContrastiveLoss", "ap"), ("ContrastiveLoss", "f1")])
def test_pair_classification_trains_and_scores(tiny_model: str, tmp_path: Path, loss: str, metric: str) -> None:
    config = _pair_config(tiny_model, tmp_path, loss, metric)
    params = config.search_space.resolve({"learning_rate": 1e-3})
    reporter = NullReporter()
    result = train_trial(get_task("pair-classification"), params, load_data(config), config, reporter)
    assert result.metric_key == f"dev_cosine_{metric}"
    assert {"dev_cosine_ap", "dev_cosine_accuracy", "dev_cosine_f1"} <= set(result.metrics)
    assert list(reporter.values) == [32, 64, 96]
    assert "evaluate_final" not in result.seconds  # dev pairs have no corpus to cap: scored once


def test_samples_seen_counts_the_short_last_batch_and_the_run_keeps_its_record(tiny_model: str, tmp_path: Path) -> None:
    config = _pair_config(tiny_model, tmp_path, "OnlineContrastiveLoss", "ap")
    raw = config.model_dump(mode="json")
    raw["data"]["max_train_samples"] = 100  # batches of 16: six full ones and one of 4, per epoch
    raw["search_space"]["epochs"] = 2
    config = parse_config(raw, source="x")
    data = load_data(config)
    params = config.search_space.resolve({"learning_rate": 1e-3})
    reporter = NullReporter()
    result = train_trial(get_task("pair-classification"), params, data, config, reporter, seed=7)
    assert len(data.train) == 100
    assert result.samples_seen == 200  # steps x batch size would say 14 x 16 = 224
    assert list(reporter.values) == [32, 64, 96, 128, 160, 192]
    assert result.seed == 7
    assert result.embedding_dim == 64
    assert result.encode_texts_per_second is not None and result.encode_texts_per_second > 0
    items = result.items
    assert items is not None and items.n == len(data.dev)
    assert set(items.thresholds) == {"accuracy", "f1"}
    record = result.user_attrs()
    assert record["item_scores"]["n"] == len(data.dev) and record["embedding_dim"] == 64


def test_a_seed_changes_the_run_and_the_same_seed_repeats_it(tiny_model: str, tmp_path: Path) -> None:
    config = _pair_config(tiny_model, tmp_path, "OnlineContrastiveLoss", "ap")
    data = load_data(config)
    params = config.search_space.resolve({"learning_rate": 1e-3})
    task = get_task("pair-classification")
    first = train_trial(task, params, data, config, NullReporter(), seed=1)
    again = train_trial(task, params, data, config, NullReporter(), seed=1)
    other = train_trial(task, params, data, config, NullReporter(), seed=2)
    assert first.metrics == pytest.approx(again.metrics, abs=1e-6)
    # Every metric, not the value alone: on a tiny dev set two models can tie on AP.
    assert other.metrics != pytest.approx(first.metrics, abs=1e-6)
