"""The budget queued in bulk: the same trials Optuna's enqueue_trial writes, each batch once, all or nothing."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from hpo.store import bulk_enqueue
from hpo.store.bulk_enqueue import QueuedTrial, enqueue_trials
from hpo.store.config_file import parse_config
from hpo.store.storage import StorageUrl, open_storage
from hpo.store.study import create_study
from tests.helpers import retrieval_config

QUEUE: list[QueuedTrial] = [
    ({"model": "m", "learning_rate": 1e-4}, {"warm_start": True, "default_recipe": True}),
    ({"batch_size": 16}, {"warm_start": True}),
    *[({}, None)] * 6,
    ({}, {"confirms_trial": 0, "seed": 7}),
]


def _record(trial: optuna.trial.FrozenTrial) -> tuple[Any, ...]:
    return (trial.number, trial.state, trial.params, trial.user_attrs, trial.system_attrs, trial.datetime_start)


def test_bulk_rows_are_those_of_enqueue_trial(storage_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_enqueue, "BATCH_SIZE", 4)  # three batches
    storage = open_storage(StorageUrl.parse(storage_url), create=True)
    one_by_one = optuna.create_study(study_name="one-by-one", storage=storage.backend)
    one_by_one.enqueue_trial({}, user_attrs={"replaces_trial": 3})  # a study that already has a trial
    for params, marks in QUEUE:
        one_by_one.enqueue_trial(params, user_attrs=marks)
    bulk = optuna.create_study(study_name="bulk", storage=storage.backend)
    bulk.enqueue_trial({}, user_attrs={"replaces_trial": 3})
    enqueue_trials(bulk, storage.backend, QUEUE, first_number=1)
    expected = [_record(t) for t in one_by_one.get_trials(deepcopy=False)]
    assert [_record(t) for t in bulk.get_trials(deepcopy=False)] == expected
    assert bulk.ask().number == 0  # Optuna takes queued trials oldest first ...
    recipe = bulk.ask()
    assert (recipe.number, recipe.suggest_float("learning_rate", 1e-6, 1e-2)) == (1, 1e-4)  # ... with their params


def test_a_batch_sent_again_adds_nothing(tmp_path: object) -> None:
    storage = open_storage(StorageUrl.parse(f"sqlite:///{tmp_path}/q.db"), create=True)
    study = optuna.create_study(study_name="q", storage=storage.backend)
    study_id = storage.backend.get_study_id_from_name("q")
    for _ in range(2):  # the commit of the first went through, its reply was lost: the retry sends it again
        bulk_enqueue._insert_batch(storage.backend.engine, study_id, 0, QUEUE, None)  # type: ignore[attr-defined]
    assert [t.number for t in study.get_trials(deepcopy=False)] == list(range(len(QUEUE)))


def test_a_creation_that_fails_mid_budget_leaves_no_study(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_enqueue, "BATCH_SIZE", 10)
    insert = bulk_enqueue._insert_batch
    batches: list[int] = []

    def third_batch_fails(*args: Any) -> None:
        batches.append(args[2])
        if len(batches) == 3:
            raise KeyboardInterrupt  # Ctrl-C, or any error, after two batches were committed
        insert(*args)

    monkeypatch.setattr(bulk_enqueue, "_insert_batch", third_batch_fails)
    storage = open_storage(StorageUrl.parse(f"sqlite:///{tmp_path}/q.db"), create=True)
    config = parse_config(retrieval_config("some/model", budget={"n_trials": 50}), source="test")
    with pytest.raises(KeyboardInterrupt):
        create_study(config, "sha256:x", {}, storage)
    assert batches == [0, 10, 20]
    assert storage.study_names() == []  # nothing half-queued left behind
    monkeypatch.setattr(bulk_enqueue, "_insert_batch", insert)
    assert create_study(config, "sha256:x", {}, storage) == "tiny-retrieval"
    trials = optuna.load_study(study_name="tiny-retrieval", storage=storage.backend).get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(50)) and {t.state.name for t in trials} == {"WAITING"}
