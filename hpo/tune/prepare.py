"""Before the study exists: read the data, infer what it is, load it as its task will, probe the
candidate models on this hardware, and turn a plan into the study file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, UsageError
from hpo.tune.data_in import read_data
from hpo.tune.infer import Inferred, infer
from hpo.tune.plan import Budget, BudgetTooShortError, DataSizes, ModelProbe, Plan, make_plan
from hpo.tune.study_file import sequence_length, study_config, write_study_file

if TYPE_CHECKING:
    from hpo.training.task import Task
    from hpo.tune.request import TuneRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """The inferred data, its task and sizes, and the probe's figures: all a plan needs."""

    name: str
    inferred: Inferred
    task: Task[Any]
    sizes: DataSizes
    probes: list[ModelProbe]
    max_seq_length: int
    notes: tuple[str, ...]

    def plan(self, budget: Budget, workers: int) -> Plan:
        try:
            plan = make_plan(self.probes, self.sizes, budget, workers)
        except BudgetTooShortError as exc:
            raise UsageError(f"--budget: {exc}") from None
        return Plan(**{**plan.__dict__, "notes": (*self.notes, *plan.notes)})

    def write(self, plan: Plan, path: Path) -> None:
        """Write the study file for ``plan``, after checking that it is a valid config."""
        from hpo.store.config_file import load_config

        write_study_file(study_config(self.name, self.task, self.inferred, plan, self.max_seq_length), path)
        load_config(path)


def prepare(request: TuneRequest, probe_seconds: float) -> Prepared:
    """Infer, load and probe; at most ``probe_seconds`` go to measuring the models."""
    from hpo.training.models import model_max_length
    from hpo.tune.probe import CANDIDATES, available_models, probe_models
    from objectives.registry import get_task

    files, rows = read_data(request.data)
    inferred = infer(files, rows, request.task, request.columns, request.positive_label)
    task = get_task(inferred.task)
    models, notes = available_models(request.models or CANDIDATES)
    if not models:
        raise UsageError(f"no candidate model can be loaded here: {'; '.join(notes)}")
    name = f"tune-{request.data.resolve().name}"
    config = _loading_config(name, task, inferred, models[0])
    data = task.load_data(config, include_test=True)
    texts = task.evaluation_texts(data, "dev")
    limits = [limit for m in models if (limit := model_max_length(m)) is not None]
    seq = min([sequence_length(texts), *limits])  # no longer than the shortest candidate reads
    logger.info("probing %s for at most %.0f s", ", ".join(models), probe_seconds)
    probes = probe_models(models, task, data, probe_seconds, seq, request.trust_remote_code)
    return Prepared(name, inferred, task, load_sizes(data, task), probes, seq, tuple(notes))


def _loading_config(name: str, task: Task[Any], inferred: Inferred, model: str) -> Any:
    """A minimal valid config that loads the data as the study will (splits carved, leaks dropped)."""
    from hpo.store.config_file import parse_config
    from hpo.training.recipe import default_recipe

    raw = {
        "study_name": name,
        "objective": task.name,
        "data": inferred.data_section(),
        "search_space": {
            "model": model,
            "loss": {default_recipe(task).loss: {}},
            "learning_rate": 2e-5,
            "batch_size": 32,
            "epochs": 1,
        },
        "evaluation": {"every_samples": 64},
        "budget": {"n_trials": 1},
    }
    try:
        return parse_config(raw, source="the inferred config")
    except ConfigError as exc:
        raise UsageError(f"{exc} (settle it with --task and --columns)") from None


def load_sizes(data: Any, task: Any) -> DataSizes:
    """What the planner needs to know of the loaded data, from the task's own views of it."""
    summary = data.summary()
    dev_texts = task.evaluation_texts(data, "dev")
    test_texts = task.evaluation_texts(data, "test") if data.has_test else []
    dev = getattr(data, "dev", None)
    relevant = getattr(dev, "relevant", {}) if dev is not None else {}
    corpus = int(summary.get("corpus_passages", 0))
    return DataSizes(
        train=data.train_size(),
        dev_items=int(summary.get("dev_queries", summary.get("dev_pairs", 0))),
        test_items=len(test_texts) - corpus if corpus else len(test_texts) // 2,  # queries, or pairs
        dev_texts=len(dev_texts),
        test_texts=len(test_texts),
        corpus=corpus,
        relevant=len({p for ids in relevant.values() for p in ids}) if isinstance(relevant, dict) else 0,
    )
