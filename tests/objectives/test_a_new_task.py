"""Adding a task is its module plus one registry entry: a fourth, toy task runs a study end to end.

The toy below is the whole extension path. It lives outside the project (in the test's temporary
folder), derives from :class:`~hpo.training.task.PairTask` and from no existing task, and is known
to hpo only through ``objectives.registry.TASKS``. Its data reports its own row counts, so nothing
may read a key that only the built-in tasks' summaries have.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import objectives.registry
from hpo import attrs
from hpo.store.storage import StorageUrl
from hpo.store.study import load_stored_study
from hpo.verdicts.notes import study_note
from hpo.workers.worker import run_worker
from tests.helpers import invoke, jsonl, load_study, pairs_config, storage, write_config
from tests.test_imports import task_modules

TOY_MODULE = "toy_task"
TOY_SOURCE = '''"""Toy similarity: text pairs with a score in [0, 1], CosineSimilarityLoss, Spearman."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hpo.data import rows
from hpo.data.pairs import PairData, PairSplit, load_pair_splits
from hpo.data.rows import Field
from hpo.data.sources import Row
from hpo.settings.config import StudyConfig
from hpo.settings.losses import LossSpec, sentence_transformers_loss
from hpo.training.task import PAIR_TEXTS, Column, Metrics, PairTask, Split

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator


class ToyData(PairData):
    """Pairs whose summary names its own counts (no ``train_pairs``)."""

    def summary(self) -> dict[str, Any]:
        return {"toy_train_rows": len(self.train), "toy_dev_rows": len(self.dev)}


def read_score(row: Row, index: int, where: str, field: Field) -> float:
    return float(rows.value(row, index, where, field))


class ToySimilarityTask(PairTask[ToyData]):
    name = "toy-similarity"
    label_role = "score"
    columns = (*PAIR_TEXTS, Column("score", True, "similarity of the two texts, in [0, 1]"))
    losses: ClassVar[Mapping[str, LossSpec]] = {
        "CosineSimilarityLoss": LossSpec("CosineSimilarityLoss", {}, sentence_transformers_loss("CosineSimilarityLoss"))
    }
    metrics = Metrics(pattern=re.compile("spearman"), examples=("spearman",), default="spearman", table=("spearman",))

    def load_data(self, config: StudyConfig, include_test: bool = False) -> ToyData:
        columns = self.column_map(config.data)
        splits = load_pair_splits(config, columns, self.label_role, read_score, include_test, "scores must vary")
        return ToyData(*splits)

    def pair_evaluator(self, pairs: PairSplit, split: Split, batch_size: int) -> BaseEvaluator:
        from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

        return EmbeddingSimilarityEvaluator(
            sentences1=pairs.text1,
            sentences2=pairs.text2,
            scores=pairs.labels,
            batch_size=batch_size,
            main_similarity="cosine",
            similarity_fn_names=["cosine"],
            name=split,
            write_csv=False,
        )

    def metric_key(self, metrics: Mapping[str, float], metric: str) -> str:
        """This evaluator names its keys ``<split>_<metric>_cosine``."""
        return next(key for key in metrics if key.endswith(f"_{metric}_cosine"))


TASK = ToySimilarityTask()
'''


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The toy task module, imported from the test's folder and registered (the one line a task adds)."""
    (tmp_path / f"{TOY_MODULE}.py").write_text(TOY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(TOY_MODULE)
    monkeypatch.setitem(objectives.registry.TASKS, module.TASK.name, module.TASK)
    yield module
    sys.modules.pop(TOY_MODULE, None)


def _toy_config(tmp_path: Path, model: str) -> Path:
    rows = [
        {"text1": f"a dog runs in field {i}", "text2": f"a dog is running {i}", "score": (i % 5) / 4}
        for i in range(200)
    ]
    raw = pairs_config(model, jsonl(tmp_path / "pairs.jsonl", rows), max_train_samples=96)
    raw.update(study_name="toy", objective="toy-similarity", budget={"n_trials": 1})
    raw["search_space"]["loss"] = "CosineSimilarityLoss"
    raw["search_space"]["learning_rate"] = 1e-3
    return write_config(tmp_path, raw)


def test_a_registered_task_runs_a_study(toy: ModuleType, tmp_path: Path, tiny_model: str) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    created = invoke("create-study", "--config", str(_toy_config(tmp_path, tiny_model)), "--storage", url)
    assert created.exit_code == 0, created.stderr
    assert created.stdout == "toy\n"

    summary = run_worker(StorageUrl.parse(url), "toy", n_trials=1)  # in process: it sees the registration
    assert summary.states == {"COMPLETE": 1}

    study = load_study(url, "toy")
    assert study.user_attrs[attrs.CONFIG]["objective"] == "toy-similarity"
    (trial,) = study.trials
    assert trial.state.name == "COMPLETE" and trial.value is not None and -1.0 <= trial.value <= 1.0
    assert trial.user_attrs["metrics"]["dev_spearman_cosine"] == trial.value
    data_summary = study.user_attrs[attrs.DATA_SUMMARY]  # the toy's own keys, stored as they are
    assert list(data_summary) == ["toy_train_rows", "toy_dev_rows"] and data_summary["toy_train_rows"] == 96
    stored = load_stored_study(storage(url), "toy")
    assert "- loaded: toy_train_rows 96, toy_dev_rows " in study_note(study, stored.config)


def test_the_import_rules_see_a_registered_task(toy: ModuleType) -> None:
    assert TOY_MODULE in task_modules()
