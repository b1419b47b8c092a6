from __future__ import annotations

import json

import numpy as np
import pytest

from hpo.stats.item_scores import ItemScores, digest, read_record


def test_a_record_round_trips_within_its_quantization() -> None:
    rng = np.random.default_rng(0)
    ndcg = rng.uniform(0, 1, size=279)
    items = ItemScores(items=digest(["q1", "q2"]), scores={"ndcg@10": ndcg, "mrr@10": ndcg / 2})
    record = json.loads(json.dumps(items.to_record()))
    back = ItemScores.from_record(record)
    assert back.items == items.items and back.n == 279
    assert np.abs(back.scores["ndcg@10"] - ndcg).max() <= (ndcg.max() - ndcg.min()) / 131070 + 1e-12
    assert back.scores["ndcg@10"].mean() == pytest.approx(ndcg.mean(), abs=1e-5)
    assert set(items.only(["ndcg@10"]).scores) == {"ndcg@10"}


def test_pair_records_stay_small() -> None:
    rng = np.random.default_rng(1)
    pairs = ItemScores(
        items="x",
        similarity=rng.uniform(-0.2, 1, size=3000),
        gold=(rng.random(3000) < 0.36).astype(np.float64),
        thresholds={"accuracy": 0.8, "f1": 0.7},
    )
    text = json.dumps(pairs.to_record())
    assert len(text) < 17_000  # 3,000 pairs: about 8 kB for the similarities, 8 kB for the labels
    back = ItemScores.from_record(json.loads(text))
    assert back.gold is not None and set(back.gold) == {0.0, 1.0}
    assert back.thresholds == {"accuracy": 0.8, "f1": 0.7}
    constant = ItemScores(items="c", scores={"m": np.full(5, 0.25)})
    assert list(ItemScores.from_record(constant.to_record()).scores["m"]) == [0.25] * 5


def test_unreadable_records() -> None:
    assert read_record(None) is None
    assert read_record({"items": "x"}) is None
    with pytest.raises(ValueError, match=r"^not a record of item scores: ValueError: expected 3 values, found 2$"):
        ItemScores.from_record(
            {"items": "x", "n": 3, "scores": {"m": ItemScores("x", {"m": np.zeros(2)}).to_record()["scores"]["m"]}}
        )
    with pytest.raises(ValueError, match="item scores must be finite numbers"):
        ItemScores("x", {"m": np.array([0.1, np.nan])}).to_record()
