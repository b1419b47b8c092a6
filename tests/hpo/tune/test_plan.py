"""The planner's choices for given probe figures: pure functions, no training."""

from __future__ import annotations

import itertools

import pytest

from hpo.tune.plan import (
    PROBE_MARGIN,
    RESERVE,
    Budget,
    BudgetTooShortError,
    DataSizes,
    ModelProbe,
    make_plan,
    parse_budget,
)

SMALL = ModelProbe("small", {16: 9.0, 32: 8.5, 64: 8.0}, encode_texts_per_second=300.0, load_seconds=2.0)
LARGE = ModelProbe("large", {16: 2.0, 32: 1.9, 64: 1.8}, encode_texts_per_second=60.0, load_seconds=6.0)
PAIRS = DataSizes(train=4500, dev_items=500, test_items=4927, dev_texts=1000, test_texts=9854)
RETRIEVAL = DataSizes(
    train=14986,
    dev_items=279,
    test_items=324,
    dev_texts=279 + 18687,
    test_texts=324 + 18687,
    corpus=18687,
    relevant=2000,
)


@pytest.mark.parametrize("sizes", [PAIRS, RETRIEVAL], ids=["pairs", "retrieval"])
@pytest.mark.parametrize("minutes", [5, 15, 30, 60, 240])
def test_every_plan_fits_its_budget(sizes: DataSizes, minutes: int) -> None:
    budget = Budget(minutes * 60.0, spent=minutes * 3.0)
    try:
        plan = make_plan([SMALL, LARGE], sizes, budget)
    except BudgetTooShortError as exc:
        assert minutes == 5 and sizes is RETRIEVAL, exc  # the whole corpus is encoded to test on it
        return
    assert sum(plan.predicted().values()) <= budget.seconds * (1 - RESERVE) + 1
    assert plan.n_trials >= 1
    assert plan.models[0] == "small"  # the default recipe's model is always a candidate
    assert plan.every_samples >= max(plan.batch_sizes)
    assert plan.max_train_samples is None or plan.max_train_samples < sizes.train


def test_a_larger_budget_buys_more_trials_or_larger_ones() -> None:
    plans = [make_plan([SMALL], PAIRS, Budget(m * 60.0)) for m in (15, 60, 240)]
    sizes = [(p.n_trials, p.max_train_samples or PAIRS.train) for p in plans]
    assert all(a[0] <= b[0] or a[1] < b[1] for a, b in itertools.pairwise(sizes))
    assert plans[-1].max_train_samples is None or plans[-1].max_train_samples > plans[0].max_train_samples  # type: ignore[operator]


def test_a_slow_candidate_is_left_out_of_a_short_budget_and_said() -> None:
    plan = make_plan([SMALL, LARGE], RETRIEVAL, Budget(15 * 60.0, spent=45.0))
    assert plan.models == ("small",)
    assert "large left out: the budget buys too few of its trials" in plan.notes
    assert make_plan([SMALL, LARGE], PAIRS, Budget(60 * 60.0)).models == ("small", "large")


def test_a_costly_corpus_is_capped_and_a_small_one_is_not() -> None:
    capped = make_plan([SMALL], RETRIEVAL, Budget(15 * 60.0))
    assert capped.corpus_cap is not None and RETRIEVAL.relevant < capped.corpus_cap < RETRIEVAL.corpus
    small = DataSizes(train=500, dev_items=50, test_items=50, dev_texts=350, test_texts=350, corpus=300, relevant=60)
    assert make_plan([SMALL], small, Budget(15 * 60.0)).corpus_cap is None


def test_small_data_trains_on_all_of_it_and_may_take_a_second_epoch() -> None:
    tiny = DataSizes(train=300, dev_items=100, test_items=100, dev_texts=200, test_texts=200)
    plan = make_plan([SMALL], tiny, Budget(60 * 60.0))
    assert plan.max_train_samples is None
    assert plan.epochs == (1, 2)


def test_confirmation_only_when_the_search_stays_large() -> None:
    assert make_plan([SMALL], PAIRS, Budget(5 * 60.0)).confirm_top_k == 0
    generous = make_plan([SMALL], PAIRS, Budget(4 * 3600.0))
    assert (generous.confirm_top_k, generous.confirm_seeds) >= (2, 2)
    phases = generous.predicted()
    assert phases["confirm"] <= 0.4 * (phases["search"] + phases["confirm"])


def test_more_workers_run_more_trials_in_the_same_time() -> None:
    one = make_plan([SMALL], PAIRS, Budget(30 * 60.0), workers=1)
    two = make_plan([SMALL], PAIRS, Budget(30 * 60.0), workers=2)
    assert two.n_trials > one.n_trials


def test_test_and_dev_are_subsampled_only_when_scoring_them_would_eat_the_budget() -> None:
    huge = DataSizes(train=5000, dev_items=5000, test_items=50000, dev_texts=10000, test_texts=100000)
    plan = make_plan([SMALL], huge, Budget(15 * 60.0))
    assert plan.max_test_items is not None and plan.max_test_items < 50000
    assert any(note.startswith("scoring ") and note.endswith("to fit the budget") for note in plan.notes)
    assert make_plan([SMALL], PAIRS, Budget(60 * 60.0)).max_test_items is None


def test_no_model_to_plan_with() -> None:
    with pytest.raises(ValueError, match="no candidate model could be probed"):
        make_plan([], PAIRS, Budget(600.0))


@pytest.mark.parametrize(
    ("text", "seconds", "dollars"),
    [("90m", 5400.0, None), ("2h", 7200.0, None), ("1h30m", 5400.0, None), ("45s", 45.0, None), ("$20", None, 20.0)],
)
def test_budgets(text: str, seconds: float | None, dollars: float | None) -> None:
    assert parse_budget(text) == (seconds, dollars)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("90", "--budget 90: give a unit (90m, 2h, 45s)"),
        ("ten minutes", "--budget ten minutes: give wall time (90m, 2h, 1h30m) or money ($20)"),
        ("0m", "--budget 0m: give a positive amount"),
        ("$-3", "--budget $-3: give a positive amount"),
        ("$x", "--budget $x: 'x' is not a number"),
        ("$nan", "--budget $nan: give a positive amount"),
    ],
)
def test_bad_budgets(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_budget(text)
    assert str(info.value) == message


def test_a_budget_too_short_for_the_data_says_what_it_needs() -> None:
    with pytest.raises(BudgetTooShortError) as info:
        make_plan([SMALL], RETRIEVAL, Budget(3 * 60.0))
    message = str(info.value)
    assert message.startswith("the budget is too short here: one trial, the zero-shot scores and the final tests")
    needed = float(message.split("take about ")[1].split(" min")[0])
    suggested = int(message.rsplit("give at least ", 1)[1].removesuffix("m"))
    assert suggested * (1 - RESERVE) >= needed * PROBE_MARGIN  # room for a probe that measures slower next time
    assert make_plan([SMALL], RETRIEVAL, Budget(suggested * 60.0)).n_trials >= 1
