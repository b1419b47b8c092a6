"""Config errors of the quality levers (mined hard negatives, Matryoshka dimensions): one exact line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hpo.errors import ConfigError
from hpo.training.models import check_dimensions
from tests.helpers import parsed, retrieval_config

Change = Callable[[dict[str, Any]], None]


def _search(**values: Any) -> Change:
    return lambda raw: raw["search_space"].update(values)


def _evaluation_dim(raw: dict[str, Any]) -> None:
    raw["evaluation"]["matryoshka_dim"] = 100


def _pairs_with_negatives(raw: dict[str, Any]) -> None:
    raw.update(objective="pair-classification")
    raw["data"]["columns"] = {}
    raw["search_space"].update(loss="OnlineContrastiveLoss", hard_negatives={"miner": "bm25"})


WINDOW = {
    "miner": "bm25",
    "num_negatives": {"type": "int", "low": 1, "high": 5},
    "range_min": {"type": "int", "low": 0, "high": 20},
    "range_max": {"type": "int", "low": 20, "high": 200},
}

# (id, change, the message after "x: "; {model} is the tiny model's path)
CASES: list[tuple[str, Change, str]] = [
    (
        "window",
        _search(hard_negatives=WINDOW),
        "search_space.hard_negatives: range_max (20) is below range_min (20) + num_negatives (5): "
        "the window of ranks must hold every negative",
    ),
    (
        "miner",
        _search(hard_negatives={"miner": "bm52"}),
        "search_space.hard_negatives: miner: 'bm52' is not allowed (needs one of: none, bm25, dense)",
    ),
    (
        "key",
        _search(hard_negatives={"negatives": 3}),
        "search_space.hard_negatives: unknown key 'negatives'; did you mean 'num_negatives'? "
        "(allowed: miner, miner_model, num_negatives, range_min, range_max, margin, relative_margin, sampling)",
    ),
    (
        "miner-model",
        _search(hard_negatives={"miner": "bm25", "miner_model": "some/model"}),
        "search_space.hard_negatives: miner_model applies only to the dense miner, and miner is never 'dense'",
    ),
    (
        "relative-margin",
        _search(hard_negatives={"miner": "bm25", "relative_margin": 1.5}),
        "search_space.hard_negatives: relative_margin: 1.5 is not allowed (needs 0 <= relative_margin < 1 or null)",
    ),
    (
        "num-negatives",
        _search(hard_negatives={"miner": "dense", "num_negatives": 0}),
        "search_space.hard_negatives: num_negatives: 0 is not allowed (needs num_negatives >= 1)",
    ),
    (
        "sampling",
        _search(hard_negatives={"miner": "dense", "sampling": {"type": "float", "low": 0.0, "high": 1.0}}),
        "search_space.hard_negatives: sampling: must be str-valued; use type int or categorical",
    ),
    (
        "retrieval-only",
        _pairs_with_negatives,
        "search_space.hard_negatives: mined hard negatives are for retrieval, not pair-classification",
    ),
    (
        "triplet-needs-negatives",
        _search(
            loss={"TripletLoss": {}, "MultipleNegativesRankingLoss": {}},
            hard_negatives={"miner": {"type": "categorical", "choices": ["none", "bm25"]}},
        ),
        "search_space.loss: TripletLoss trains on mined negatives only; "
        "set search_space.hard_negatives.miner to bm25 or dense (not none)",
    ),
    (
        "dims-order",
        _search(matryoshka_dims=[16, 32]),
        "search_space.matryoshka_dims: [16, 32] must be strictly descending, e.g. [256, 128, 64]",
    ),
    (
        "dims-choice-order",
        _search(matryoshka_dims={"type": "categorical", "choices": [[32], [16, 32]]}),
        "search_space.matryoshka_dims: choices: [16, 32] must be strictly descending, e.g. [256, 128, 64]",
    ),
    (
        "dims-positive",
        _search(matryoshka_dims=[32, 0]),
        "search_space.matryoshka_dims: [32, 0] must hold positive integers",
    ),
    (
        "dims-searched-badly",
        _search(matryoshka_dims={"type": "int", "low": 8, "high": 64}),
        "search_space.matryoshka_dims: a searched matryoshka_dims is {type: categorical, choices: [[...], ...]}",
    ),
    (
        "dims-scalar",
        _search(matryoshka_dims=32),
        "search_space.matryoshka_dims: give a list of dimensions, e.g. [256, 128, 64], "
        "or {type: categorical, choices: [[...], ...]}",
    ),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_lever_config(tiny_model: str, change: Change, message: str) -> None:
    raw = retrieval_config(tiny_model)
    change(raw)
    with pytest.raises(ConfigError) as info:
        parsed(raw)
    assert str(info.value) == "x: " + message.replace("{model}", tiny_model)


def test_good_lever_config_round_trips(tiny_model: str) -> None:
    raw = retrieval_config(tiny_model)
    raw["search_space"]["hard_negatives"] = {**WINDOW, "range_max": {"type": "int", "low": 30, "high": 200}}
    raw["search_space"]["matryoshka_dims"] = {"type": "categorical", "choices": [[32, 16], []]}
    raw["evaluation"]["matryoshka_dim"] = 32
    config = parsed(raw)
    assert parsed(config.model_dump(mode="json")) == config
    assert set(config.search_space.searched_params()) >= {
        "hard_negatives.num_negatives",
        "hard_negatives.range_min",
        "hard_negatives.range_max",
        "matryoshka_dims",
    }
    # A study without the levers stores the config it stored before they existed.
    plain = parsed(retrieval_config(tiny_model)).model_dump(mode="json")
    assert "hard_negatives" not in plain["search_space"] and "matryoshka_dims" not in plain["search_space"]
    assert "matryoshka_dim" not in plain["evaluation"]


def test_an_unknown_model_dimension_is_not_checked() -> None:
    raw = retrieval_config("org/not-on-disk")
    raw["search_space"]["matryoshka_dims"] = [4096]
    assert parsed(raw).search_space.dimension_candidates() == [4096]


def test_warm_start_recipes_may_fix_the_levers(tiny_model: str) -> None:
    raw = retrieval_config(tiny_model)
    raw["search_space"]["hard_negatives"] = {"miner": {"type": "categorical", "choices": ["none", "bm25"]}}
    raw["search_space"]["matryoshka_dims"] = [32]
    raw["warm_start"] = {"recipes": [{"hard_negatives.miner": "bm25", "matryoshka_dims": "32"}]}
    assert parsed(raw).warm_start_trials() == [{"hard_negatives.miner": "bm25"}]
    raw["warm_start"] = {"recipes": [{"matryoshka_dims": "16"}]}
    with pytest.raises(
        ConfigError, match=r"^x: warm_start.recipes\[0\].matryoshka_dims: '16' differs from the fixed value '32'"
    ):
        parsed(raw)


DIMENSION_CASES: list[tuple[str, Change, str]] = [
    (
        "dims-above-model",
        _search(matryoshka_dims=[128, 32]),
        "search_space.matryoshka_dims: 128 exceeds the embedding dimension of {model} (64)",
    ),
    (
        "value-dim-above-model",
        _evaluation_dim,
        "evaluation.matryoshka_dim: 100 exceeds the embedding dimension of {model} (64)",
    ),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in DIMENSION_CASES], ids=[c[0] for c in DIMENSION_CASES])
def test_dimensions_above_the_model_are_refused_before_the_study_is_written(
    tiny_model: str, change: Change, message: str
) -> None:
    """The config itself is valid (its validation reads no model files); create-study's model check refuses it."""
    raw = retrieval_config(tiny_model)
    change(raw)
    config = parsed(raw)
    with pytest.raises(ConfigError) as info:
        check_dimensions(config, "x")
    assert str(info.value) == "x: " + message.replace("{model}", tiny_model)


@pytest.mark.parametrize("over", [0, 1], ids=["fits", "one-over"])
def test_the_mining_window_check_is_exactly_what_mining_can_do(over: int) -> None:
    """At the room create-study allows, BM25 mines negatives for every pair; one more, for none (a trial would fail)."""
    from hpo.settings.levers import HardNegatives
    from hpo.training.bm25_miner import Bm25Ranker
    from hpo.training.mining import mine, mined_dataset
    from hpo.training.task import mining_room
    from objectives.registry import get_task

    config = parsed(retrieval_config("m"))
    task = get_task("retrieval")
    data = task.load_data(config, include_test=True)
    inputs = task.mining_inputs(data)
    room, candidates = mining_room(inputs)
    assert (room, candidates) == (344, 345)
    mined = mine(inputs, HardNegatives(miner="bm25", range_min=room - 1 + over), Bm25Ranker(), 42, 32)
    rows, _, _ = mined_dataset(inputs, mined, one_negative=False)
    assert len(rows) == (0 if over else len(inputs.pairs))
    raw = retrieval_config("m")
    raw["search_space"]["hard_negatives"] = {"miner": "bm25", "range_min": room - 1 + over}
    if over:
        with pytest.raises(ValueError, match=r"range_min \(344\) \+ num_negatives \(1\) exceeds the 344 passages"):
            task.check_data(parsed(raw), data)
    else:
        task.check_data(parsed(raw), data)
