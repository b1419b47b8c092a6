from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpo.settings.config import DEFAULT_MIN_GAIN, SignificanceConfig
from hpo.stats.significance import (
    Comparison,
    bootstrap_metric,
    bootstrap_runs,
    decide,
    paired_bootstrap,
    threshold_note,
)
from hpo.stats.weighted_metrics import mean, spearman

N = 400


def _scores(seed: int = 0) -> np.ndarray:
    """Per-item scores of a reference model, NDCG-like."""
    return np.random.default_rng(seed).uniform(0.2, 0.8, size=N)


def _noise(scale: float, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=N)


def test_a_clear_gain_is_a_win() -> None:
    reference = _scores()
    result = paired_bootstrap(reference + 0.03 + _noise(0.02), reference)
    assert result.verdict == "WIN"
    assert result.low > 0
    assert result.difference == pytest.approx(0.03, abs=0.005)
    assert result.low < result.difference < result.high
    assert result.n == N


def test_independent_models_of_equal_skill_tie() -> None:
    result = paired_bootstrap(_scores(seed=7), _scores(seed=8))
    assert result.verdict == "TIE"
    assert result.low < 0 < result.high


def test_a_clear_loss_is_a_regression() -> None:
    reference = _scores()
    result = paired_bootstrap(reference - 0.03 + _noise(0.02), reference)
    assert result.verdict == "REGRESSION"
    assert result.high < 0


def test_a_real_gain_below_min_gain_is_marginal() -> None:
    reference = _scores()
    result = paired_bootstrap(reference + 0.005 + _noise(0.01), reference, min_gain=0.01)
    assert result.verdict == "MARGINAL"
    assert result.low > 0
    assert result.difference < 0.01


def test_lower_is_better_flips_the_sign() -> None:
    reference_loss = _scores()
    result = paired_bootstrap(reference_loss - 0.03 + _noise(0.02), reference_loss, maximize=False)
    assert result.verdict == "WIN"
    assert result.difference == pytest.approx(0.03, abs=0.005)


def test_a_seed_makes_it_reproducible() -> None:
    reference = _scores()
    candidate = reference + _noise(0.05)
    assert paired_bootstrap(candidate, reference, seed=3) == paired_bootstrap(candidate, reference, seed=3)
    assert paired_bootstrap(candidate, reference, seed=3).low != paired_bootstrap(candidate, reference, seed=4).low


def test_the_interval_narrows_with_confidence() -> None:
    reference = _scores()
    candidate = reference + _noise(0.05)
    wide = paired_bootstrap(candidate, reference, confidence=0.99)
    narrow = paired_bootstrap(candidate, reference, confidence=0.8)
    assert wide.low < narrow.low < narrow.high < wide.high
    assert (wide.confidence, narrow.confidence) == (0.99, 0.8)


def test_the_mean_metric_is_the_paired_bootstrap() -> None:
    reference = _scores()
    candidate = reference + _noise(0.05)
    assert bootstrap_metric(mean, candidate, reference) == paired_bootstrap(candidate, reference)


def test_describe_and_to_dict() -> None:
    result = paired_bootstrap([0.51, 0.61, 0.71], [0.5, 0.6, 0.7])
    assert result.describe() == "+0.0100 [+0.0100, +0.0100] WIN"
    document: dict[str, Any] = result.to_dict()
    assert document == {
        "difference": 0.01,
        "low": 0.01,
        "high": 0.01,
        "n": 3,
        "verdict": "WIN",
        "confidence": 0.95,
        "method": "paired bootstrap",
        "min_gain": 0.0,
    }
    assert json.loads(json.dumps(document)) == document


def test_describe_a_regression() -> None:
    result = Comparison(difference=-0.0123, low=-0.021, high=-0.004, n=50, verdict="REGRESSION")
    assert result.describe() == "-0.0123 [-0.0210, -0.0040] REGRESSION"


@pytest.mark.parametrize(
    ("difference", "low", "high", "min_gain", "verdict"),
    [
        (0.02, 0.01, 0.03, 0.0, "WIN"),
        (0.01, 0.001, 0.02, 0.01, "WIN"),
        (0.005, 0.001, 0.01, 0.01, "MARGINAL"),
        (0.01, 0.0, 0.02, 0.0, "TIE"),
        (0.0, -0.01, 0.01, 0.0, "TIE"),
        (-0.01, -0.02, 0.0, 0.0, "TIE"),
        (-0.01, -0.02, -0.001, 0.0, "REGRESSION"),
    ],
)
def test_decide(difference: float, low: float, high: float, min_gain: float, verdict: str) -> None:
    assert decide(difference, low, high, min_gain) == verdict


def _spearman_rows(noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(model score, gold) rows for pairs whose gold scores run 0-5 in steps of 0.2 (ties)."""
    gold = np.round(np.random.default_rng(0).uniform(0, 5, size=N) * 5) / 5
    predicted = gold + np.random.default_rng(seed).normal(scale=noise, size=N)
    return np.column_stack([predicted, gold]), gold


def test_spearman_of_a_better_model_is_a_win() -> None:
    better, _ = _spearman_rows(noise=0.5, seed=1)
    worse, _ = _spearman_rows(noise=1.5, seed=2)
    assert bootstrap_metric(spearman, better, worse, resamples=2000).verdict == "WIN"
    assert bootstrap_metric(spearman, worse, better, resamples=2000).verdict == "REGRESSION"


def test_spearman_difference_is_on_all_items() -> None:
    stats = pytest.importorskip("scipy.stats")
    better, gold = _spearman_rows(noise=0.5, seed=1)
    worse, _ = _spearman_rows(noise=1.5, seed=2)
    expected = stats.spearmanr(better[:, 0], gold).statistic - stats.spearmanr(worse[:, 0], gold).statistic
    assert bootstrap_metric(spearman, better, worse, resamples=10).difference == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("candidate", "reference", "kwargs", "message"),
    [
        (
            [0.1, 0.2],
            [0.1],
            {},
            "candidate has 2 items but reference has 1; score both on the same items, in the same order",
        ),
        ([], [], {}, "no items to compare"),
        ([0.1, float("nan")], [0.1, 0.2], {}, "candidate item 1 is not a finite number: nan"),
        ([0.1, 0.2], [float("inf"), 0.2], {}, "reference item 0 is not a finite number: inf"),
        (
            [[0.1, 0.2]],
            [[0.1, 0.2]],
            {},
            "paired_bootstrap takes one score per item; for rows of values use bootstrap_metric",
        ),
        ([0.1], [0.2], {"resamples": 0}, "resamples must be at least 1 (got 0)"),
        ([0.1], [0.2], {"confidence": 95}, "confidence must be between 0 and 1, exclusive (got 95)"),
        ([0.1], [0.2], {"min_gain": -0.1}, "min_gain must be 0 or more (got -0.1)"),
    ],
    ids=["lengths", "empty", "nan", "inf", "rows", "resamples", "confidence", "min-gain"],
)
def test_paired_bootstrap_refuses(candidate: Any, reference: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        paired_bootstrap(candidate, reference, **kwargs)
    assert str(info.value) == message


def test_bootstrap_metric_refuses_rows_of_different_widths() -> None:
    with pytest.raises(ValueError) as info:
        bootstrap_metric(spearman, np.zeros((3, 2)), np.zeros((3, 3)))
    assert str(info.value) == "candidate has shape (3, 2) but reference has (3, 3)"


def test_an_undefined_metric_is_refused() -> None:
    constant = np.column_stack([np.ones(5), np.arange(5.0)])
    with pytest.raises(ValueError) as info:
        bootstrap_metric(spearman, constant, constant)
    assert str(info.value) == "the metric is undefined on these items: is a column constant, or a gold class missing?"


def test_a_metric_undefined_on_some_resamples_is_refused() -> None:
    rows = np.column_stack([[0.1, 0.9, 0.5], [0.0, 1.0, 2.0]])
    with pytest.raises(ValueError) as info:
        bootstrap_metric(spearman, rows, rows, resamples=200)
    assert str(info.value) == "the metric is undefined on 24 of 200 resamples; compare on more items"


def _seed_runs(base: np.ndarray, shifts: list[float], seed: int) -> list[np.ndarray]:
    """Per-item scores of one config trained with several seeds: a shift per seed, noise per item."""
    rng = np.random.default_rng(seed)
    return [base + shift + rng.normal(scale=0.02, size=N) for shift in shifts]


def test_runs_of_one_seed_each_are_the_paired_bootstrap() -> None:
    reference = _scores()
    candidate = reference + _noise(0.05)
    one = bootstrap_runs(mean, [candidate], [reference], resamples=500)
    plain = bootstrap_metric(mean, candidate, reference, resamples=500)
    assert (one.difference, one.low, one.high, one.verdict) == (plain.difference, plain.low, plain.high, plain.verdict)
    assert one.method == "paired bootstrap over items and seeds (1 vs 1 runs)"


def test_a_gain_larger_than_the_seed_spread_wins_and_one_inside_it_ties() -> None:
    base = _scores()
    reference = _seed_runs(base, [0.001, -0.002, 0.001], seed=1)
    better = _seed_runs(base, [0.031, 0.028, 0.030], seed=2)
    clear = bootstrap_runs(mean, better, reference, resamples=2000)
    assert clear.verdict == "WIN" and clear.difference == pytest.approx(0.03, abs=0.005)
    # A mean gain of 0.01 with seeds that move the score by 0.03: a lucky seed, not a better config.
    lucky = _seed_runs(base, [0.05, -0.02, 0.0], seed=3)
    noisy = bootstrap_runs(mean, lucky, _seed_runs(base, [0.03, -0.03, 0.0], seed=4), resamples=2000)
    assert noisy.verdict == "TIE" and noisy.difference == pytest.approx(0.01, abs=0.005)
    assert noisy.high - noisy.low > 2 * (clear.high - clear.low)
    # Each of its runs alone against one reference run looks like a clear win on the items.
    assert bootstrap_metric(mean, lucky[0], reference[0], resamples=2000).verdict == "WIN"
    assert bootstrap_runs(mean, reference, better, resamples=2000).verdict == "REGRESSION"


def test_runs_must_score_the_same_items() -> None:
    with pytest.raises(ValueError) as info:
        bootstrap_runs(mean, [np.zeros(3)], [np.zeros(4)])
    assert (
        str(info.value) == "candidate has 3 items but reference has 4; score both on the same items, in the same order"
    )
    with pytest.raises(ValueError) as info:
        bootstrap_runs(mean, [], [np.zeros(4)])
    assert str(info.value) == "each side needs at least one run"


# A gain that matters by default: a sure +0.004 Spearman is MARGINAL unless the config asks for any gain.


def _sts_verdict(tmp_path: Path, significance: dict[str, Any] | None) -> str:
    """The verdict line of a candidate 0.004 Spearman above its reference on 300 pairs, for a config
    with ``significance`` (None: the default min_gain); 1000 resamples keep it fast."""
    from hpo.stats.item_scores import ItemScores
    from hpo.verdicts.paired import verdict_row
    from objectives.registry import get_task
    from tests.helpers import jsonl, parsed, retrieval_config

    raw = retrieval_config("m", objective="similarity", study_name="sts", metric="spearman")
    raw["search_space"]["loss"] = "CosineSimilarityLoss"
    rows = [{"text1": f"a {i}", "text2": f"b {i}", "score": (i % 10) / 10} for i in range(50)]
    raw["data"] = {"train": {"path": jsonl(tmp_path / "train.jsonl", rows)}}
    raw["significance"] = {"resamples": 1000, **(significance or {})}
    config = parsed(raw)
    rng = np.random.default_rng(0)
    gold = rng.random(300)
    reference = gold + rng.normal(0, 0.5, 300)
    candidate = reference * 0.99 + gold * 0.01
    records = [ItemScores("pairs", similarity=scores, gold=gold) for scores in (candidate, reference)]
    task = get_task("similarity")
    return verdict_row(
        task, config, ("tuned", records[0]), ("base (zero-shot)", records[1]), "test", "pairs"
    ).describe()


def test_the_default_min_gain_makes_a_tiny_sure_gain_marginal_and_says_so(tmp_path: Path) -> None:
    assert SignificanceConfig().min_gain == DEFAULT_MIN_GAIN == 0.01
    assert _sts_verdict(tmp_path, None) == (
        "tuned vs base (zero-shot), test spearman on pairs: "
        "+0.0039 [+0.0023, +0.0060] MARGINAL (gain < min_gain 0.01), 300 items"
    )


def test_an_explicit_min_gain_is_kept(tmp_path: Path) -> None:
    assert _sts_verdict(tmp_path, {"min_gain": 0}) == (
        "tuned vs base (zero-shot), test spearman on pairs: +0.0039 [+0.0023, +0.0060] WIN, 300 items"
    )
    assert _sts_verdict(tmp_path, {"min_gain": 0.002}).endswith(
        "+0.0039 [+0.0023, +0.0060] WIN (gain >= min_gain 0.002), 300 items"
    )


def test_the_threshold_note_names_what_decided_a_win_or_a_marginal() -> None:
    assert threshold_note("WIN", 0.01) == " (gain >= min_gain 0.01)"
    assert threshold_note("MARGINAL", 0.01) == " (gain < min_gain 0.01)"
    assert threshold_note("TIE", 0.01) == ""
    assert threshold_note("WIN", 0.0) == ""
    assert threshold_note("WIN", None) == ""
