"""Mined hard negatives: BM25 and dense miners, the held-out passages, and the shared disk cache."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from hpo.data.lexical import bm25_rankings, bm25_weights
from hpo.settings.config import StudyConfig
from hpo.settings.levers import HardNegatives
from hpo.settings.space import TrainingParams
from hpo.training.bm25_miner import Bm25Ranker
from hpo.training.mined_cache import MinedCache
from hpo.training.mining import MiningInputs, mine
from hpo.training.run_cache import RunCache
from objectives.registry import get_task
from objectives.retrieval import RetrievalData
from tests.helpers import jsonl, load_data, parsed, training_params

TOPICS = ["insulin", "dopamine", "cortisol", "serotonin", "melatonin", "thyroxine", "leptin", "ghrelin"]
EXTRA = ["oxytocin", "glucagon", "renin", "gastrin"]  # dev and test topics


def _passage(topic: str, k: int) -> str:
    return f"{topic} passage {k}: how {topic} levels change in blood and what {topic} does in the body"


def _study(tmp_path: Path, model: str, **search: Any) -> StudyConfig:
    """A retrieval study whose dev and test passages share words with training queries.

    Training query 'insulin' has two relevant passages; 'cortisol-2' is relevant to a training
    query and to a dev query; 'dopamine-2' (a close match of a training query) is relevant to a
    test query only.
    """
    corpus = [{"id": f"{t}-{k}", "text": _passage(t, k)} for t in TOPICS + EXTRA for k in range(3)]
    train = [{"id": f"q-{t}", "query": f"what does {t} do in blood?", "relevant_ids": [f"{t}-0"]} for t in TOPICS]
    train[0]["relevant_ids"] = ["insulin-0", "insulin-1"]
    train[2]["relevant_ids"] = ["cortisol-0", "cortisol-2"]
    dev = [{"id": f"d-{t}", "query": f"is {t} a hormone?", "relevant_ids": [f"{t}-0"]} for t in EXTRA[:2]]
    dev.append({"id": "d-cortisol", "query": "when does cortisol peak?", "relevant_ids": ["cortisol-2"]})
    test = [{"id": f"t-{t}", "query": f"where is {t} made?", "relevant_ids": [f"{t}-0"]} for t in EXTRA[2:]]
    test.append({"id": "t-dopamine", "query": "how does dopamine signal reward?", "relevant_ids": ["dopamine-2"]})
    raw: dict[str, Any] = {
        "study_name": "mining",
        "objective": "retrieval",
        "data": {
            "train": {"path": jsonl(tmp_path / "train.jsonl", train)},
            "dev": {"path": jsonl(tmp_path / "dev.jsonl", dev)},
            "test": {"path": jsonl(tmp_path / "test.jsonl", test)},
            "corpus": {"path": jsonl(tmp_path / "corpus.jsonl", corpus)},
            "columns": {"relevant_ids": "relevant_ids", "query_id": "id"},
        },
        "search_space": {
            "model": model,
            "loss": "MultipleNegativesRankingLoss",
            "learning_rate": 1e-3,
            "batch_size": 4,
            "epochs": 1,
            "hard_negatives": {"miner": "bm25", "num_negatives": 3, "range_max": 30},
            **search,
        },
        "evaluation": {"every_samples": 8},
        "budget": {"n_trials": 1},
    }
    return parsed(raw)


def _held_out_texts(data: RetrievalData) -> set[str]:
    return {data.corpus[cid] for cid in data.dev_passages | data.test_passages}


def _texts(dataset: Any) -> set[str]:
    return {text for column in dataset.column_names if column != "anchor" for text in dataset[column]}


def _mine(config: StudyConfig, data: Any, cache_dir: Path, **settings: Any) -> tuple[Any, Any]:
    params = config.search_space.resolve({})
    if settings:
        assert params.hard_negatives is not None
        params = params.model_copy(update={"hard_negatives": params.hard_negatives.model_copy(update=settings)})
    cache = RunCache(get_task("retrieval"), data, config, mined=MinedCache(cache_dir))
    return cache.mined_train_dataset(params, "cpu", "fp32")


@pytest.mark.parametrize("miner", ["bm25", "dense"])
def test_no_dev_or_test_passage_is_ever_mined_into_training(tmp_path: Path, tiny_model: str, miner: str) -> None:
    config = _study(tmp_path, tiny_model)
    data = load_data(config)
    held_out = _held_out_texts(data)
    assert data.corpus["dopamine-2"] in held_out and data.corpus["cortisol-2"] in held_out
    # Without the exclusion BM25 would rank the test passage second for the training query 'dopamine'.
    ranking = bm25_rankings(["what does dopamine do in blood?"], data.corpus, exclude={"dopamine-0"})[0]
    assert ranking.index("dopamine-2") <= 2
    dataset, record = _mine(
        config, data, tmp_path / "cache", miner=miner, miner_model=None if miner == "bm25" else tiny_model
    )
    assert dataset.column_names == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    assert not _texts(dataset) & held_out
    # ('cortisol', cortisol-2) has a dev passage as its positive: left out of the mined run.
    assert record.held_out_positive == 1
    assert record.trained_pairs == len(dataset) == len(data.train_pairs) - 1
    # With dev trained on (hpo train --splits train,dev), only the test passages stay out.
    merged = get_task("retrieval").with_dev_in_training(data)
    dataset, record = _mine(
        config, merged, tmp_path / "cache", miner=miner, miner_model=None if miner == "bm25" else tiny_model
    )
    assert data.corpus["cortisol-2"] in dataset["positive"]
    assert not _texts(dataset) & {data.corpus[cid] for cid in data.test_passages}
    assert record.held_out_positive == 0


def test_known_relevant_passages_are_never_a_querys_negatives(tmp_path: Path) -> None:
    config = _study(tmp_path, "some/model")
    data = load_data(config)
    dataset, _ = _mine(config, data, tmp_path / "cache", range_min=0, sampling="top")
    by_pair = {(row["anchor"], row["positive"]): row for row in dataset}
    insulin = [row for (query, _), row in by_pair.items() if "insulin" in query]
    assert len(insulin) == 2  # one row per relevant passage
    for row in insulin:
        negatives = {row[f"negative_{i}"] for i in (1, 2, 3)}
        assert not negatives & {data.corpus["insulin-0"], data.corpus["insulin-1"]}
        assert data.corpus["insulin-2"] in negatives  # the best BM25 match that is not relevant


def test_a_positive_left_out_of_training_is_still_no_negative() -> None:
    query = "what does insulin do in blood?"
    relevant = [_passage("insulin", 0), _passage("insulin", 1)]
    inputs = MiningInputs(
        pairs=[(query, relevant[0])],
        relevant={query: frozenset(relevant)},
        corpus=[*relevant, _passage("insulin", 2), *(_passage(t, 0) for t in TOPICS[1:])],
        held_out=frozenset(),
    )
    settings = HardNegatives(miner="bm25", num_negatives=2)
    mined = mine(inputs, settings, Bm25Ranker(), seed=1, batch_size=8)
    assert list(mined.negatives) == [(query, relevant[0])]
    negatives = mined.negatives[(query, relevant[0])]
    assert relevant[1] not in negatives and negatives[0] == _passage("insulin", 2)


def test_bm25_ranker_scores_like_the_capped_corpus_bm25() -> None:
    corpus = {f"{t}-{k}": _passage(t, k) for t in TOPICS for k in range(2)} | {"x": "an unrelated text"}
    queries = ["what does insulin do in blood?", "leptin and ghrelin levels"]
    weights = bm25_weights(queries, list(corpus.values()))
    ids = list(corpus)
    for q, ranking in enumerate(bm25_rankings(queries, corpus, exclude=set())):
        scores = {ids[d]: weights.score(q, d) for d in range(len(ids)) if weights.score(q, d) > 0}
        assert sorted(scores, key=lambda cid: (-scores[cid], cid)) == ranking


def test_a_second_run_with_the_same_settings_reads_the_disk_cache(tmp_path: Path, tiny_model: str) -> None:
    config = _study(tmp_path, tiny_model, hard_negatives={"miner": "dense", "num_negatives": 2, "range_max": 20})
    data = load_data(config)
    first, first_record = _mine(config, data, tmp_path / "cache")
    # Another worker process (a fresh run cache) with the same settings: no mining at all.
    second, second_record = _mine(config, data, tmp_path / "cache")
    assert (first_record.cache, second_record.cache) == ("miss", "hit")
    assert second.to_dict() == first.to_dict()
    # Other selection settings on the same data and model re-use the stored embeddings.
    _, third = _mine(config, data, tmp_path / "cache", range_min=1)
    assert third.cache == "embeddings"
    _, bm25 = _mine(config, data, tmp_path / "cache", miner="bm25", miner_model=None)
    assert bm25.cache == "miss"


def test_workers_mining_the_same_settings_at_once_mine_once(tmp_path: Path) -> None:
    config = _study(tmp_path, "some/model")
    data = load_data(config)
    records: list[Any] = []
    threads = [
        threading.Thread(target=lambda: records.append(_mine(config, data, tmp_path / "c")[1])) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.cache for r in records) == ["hit", "hit", "miss"]


def test_cache_entries_are_whole_or_absent(tmp_path: Path) -> None:
    cache = MinedCache(tmp_path)
    key = {"kind": "test", "n": 1}
    assert cache.load(key) is None
    cache.store(key, [[0, [1, 2]]])
    assert cache.load(key) == [[0, [1, 2]]]
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [
        p.name for p in tmp_path.glob("*.json")
    ]
    next(tmp_path.glob("*.json")).write_text('{"key": {"kind": "te')  # a torn write from an older writer
    assert cache.load(key) is None


def test_triplet_loss_trains_on_one_negative_per_row(tmp_path: Path, tiny_model: str) -> None:
    from hpo.training.result import NullReporter
    from hpo.training.run import train_trial

    config = _study(tmp_path, tiny_model, loss={"TripletLoss": {"triplet_margin": 0.5}})
    data = load_data(config)
    params = config.search_space.resolve({})
    dataset, _ = RunCache(get_task("retrieval"), data, config, mined=MinedCache(tmp_path / "c")).mined_train_dataset(
        params, "cpu", "fp32"
    )
    assert dataset.column_names == ["anchor", "positive", "negative"]
    assert len(dataset) == 3 * (len(data.train_pairs) - 1)
    result = train_trial(
        get_task("retrieval"),
        params,
        data,
        config,
        NullReporter(),
        cache=RunCache(get_task("retrieval"), data, config, mined=MinedCache(tmp_path / "c")),
    )
    assert result.mining is not None and result.mining.cache == "hit"
    assert len(dataset) <= result.samples_seen < len(dataset) + 4  # whole batches of 4 triplets


def test_training_params_carry_the_mining_settings() -> None:
    params = training_params(
        hard_negatives=HardNegatives(miner="bm25", num_negatives=2, range_min=3, range_max=40, relative_margin=0.05),
        matryoshka_dims=[32, 16],
    )
    assert TrainingParams.from_dict(params.to_dict()) == params
    assert "hard_negatives" not in params.model_copy(update={"hard_negatives": None, "matryoshka_dims": []}).to_dict()
